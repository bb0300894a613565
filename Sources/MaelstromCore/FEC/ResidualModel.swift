#if canImport(Glibc)
import Glibc  // pow: libm only, no I/O
#elseif canImport(Darwin)
import Darwin
#endif

/// Predicts the loss a layered-interleaving code leaves after decoding, for a measured loss rate
/// and burst-length distribution (docs/TUNING.md derives it and `ResidualModelTests` holds it
/// against the simulator).
///
/// A lost packet `x` in a burst of `b` packets can be rebuilt by layer `j` alone when the burst
/// puts no other loss in `x`'s bin, which holds when `b ≤ I_j` (members are `I_j` apart); the
/// layer then fails only if another of its `r − 1` members is lost and not itself rebuilt by its
/// other layers, or if the repair is lost: `q = 1 − (1 − p)(1 − p·h)^(r−1)`. A burst longer than
/// `I_j` blocks the layer for the share of its packets whose bin holds a second burst packet. A
/// packet is left unrecovered when every layer fails, so the unrecovered share of lost packets is
/// `u = Σ_b w_b Π_j F_j(b)` (w_b: share of lost packets in bursts of length b), solved as a fixed
/// point because `h` depends on `u`; the residual is `p·u`. Losses of different bursts are taken
/// as independent, which holds when bursts are short against the bins' spans.
public enum ResidualModel {
    /// Burst lengths the model weighs: every length up to 64, then a few per power of two.
    static let lengths: [Double] = {
        var values = (1...64).map(Double.init)
        var length = 64.0
        while length < 32_768 {
            values += [length * 1.25, length * 1.5, length * 1.75, length * 2]
            length *= 2
        }
        return values
    }()

    /// The share of lost packets in bursts of each of `lengths`, from a measured window: the larger
    /// of a geometric fit to the mean burst length (Gilbert–Elliott) and the histogram itself, so
    /// neither a short measurement's missing tail nor a non-geometric shape is underrated.
    public static func burstWeights(_ window: LossWindow) -> [Double] {
        let mean = window.meanBurstLength
        let stay = mean <= 1 ? 0 : 1 - 1 / mean
        var weights = [Double](repeating: 0, count: lengths.count)
        // Geometric: P(b) = (1 − a) a^(b−1); the share of packets is b·P(b)/mean.
        var previous = 0.0
        for (index, length) in lengths.enumerated() {
            let width = length - previous
            previous = length
            let probability = stay == 0 ? (length == 1 ? 1 : 0) : (1 - stay) * pow(stay, length - 1)
            weights[index] = width * length * probability / mean
        }
        // The histogram: each bucket's bursts spread over its lengths, weighed by length.
        let bursts = window.bursts
        if bursts.total > 0 {
            var masses = [Double](repeating: 0, count: BurstHistogram.bucketCount)
            var totalMass = 0.0
            for bucket in 0..<BurstHistogram.bucketCount where bursts.counts[bucket] > 0 {
                let low = Double(BurstHistogram.lowerLength(ofBucket: bucket))
                let high = bucket == BurstHistogram.bucketCount - 1 ? low * 2 : Double(BurstHistogram.upperLength(ofBucket: bucket))
                masses[bucket] = Double(bursts.counts[bucket]) * (low + high) / 2
                totalMass += masses[bucket]
            }
            previous = 0
            for (index, length) in lengths.enumerated() {
                let width = length - previous
                previous = length
                let bucket = BurstHistogram.bucket(forLength: UInt64(length))
                let low = Double(BurstHistogram.lowerLength(ofBucket: bucket))
                let high = bucket == BurstHistogram.bucketCount - 1 ? low * 2 : Double(BurstHistogram.upperLength(ofBucket: bucket))
                let share = masses[bucket] / totalMass * width / (high - low + 1)
                weights[index] = max(weights[index], share)
            }
        }
        let sum = weights.reduce(0, +)
        return sum > 0 ? weights.map { $0 / sum } : weights
    }

    /// The predicted residual loss (unrecovered packets per packet sent) of `code` at loss rate
    /// `lossRate` with the burst shares `weights` (from `burstWeights`).
    public static func residual(of code: FECParameters, lossRate: Double, weights: [Double]) -> Double {
        let p = min(max(lossRate, 0), 1)
        guard p > 0 else { return 0 }
        let r = Double(code.r)
        let layers = code.interleaves.map(Double.init)
        let count = layers.count
        // For each layer j: the share h_j of lost packets its other layers leave unrebuilt (a
        // second loss in a bin of layer j blocks it only if that loss stays), starting from
        // "nothing else is rebuilt" (h = 1); each step can only lower h, settling in a few dozen.
        // The share of bursts (by count) longer than each layer's interleave.
        var burstCount = 0.0
        var tail = [Double](repeating: 0, count: count)
        for (index, length) in lengths.enumerated() where weights[index] > 0 {
            let bursts = weights[index] / length
            burstCount += bursts
            for j in 0..<count where length > layers[j] { tail[j] += bursts }
        }
        if burstCount > 0 { tail = tail.map { min(1, $0 / burstCount) } }
        var others = [Double](repeating: 1, count: count)
        var fail = [Double](repeating: 1, count: count)
        var unrecovered = 1.0
        for _ in 0..<60 {
            for j in 0..<count { fail[j] = 1 - (1 - p) * pow(1 - p * others[j], r - 1) }
            var nextOthers = [Double](repeating: 0, count: count)
            var next = 0.0
            for (index, length) in lengths.enumerated() where weights[index] > 0 {
                var all = 1.0
                var factors = [Double](repeating: 1, count: count)
                // The deeper layers that isolate this burst's packets, and the best of their failures.
                var deepFail = 1.0
                for k in 0..<count where length <= layers[k] { deepFail = min(deepFail, fail[k]) }
                let isolated = deepFail < 1
                for j in 0..<count {
                    let interleave = layers[j]
                    if length <= interleave {
                        factors[j] = fail[j]
                    } else {
                        // Blocked by its own burst; but when a deeper layer rebuilds the rest of
                        // the burst, this layer finishes the job, unless the deeper layer fails
                        // for the blocking packets too: independently, or because the loss that
                        // defeated it is another burst, lined up in its bins and longer than
                        // this layer's interleave.
                        let blocked = min(1, 2 * (length - interleave) / length)
                        let stays = isolated ? min(1, tail[j] + deepFail) : 1
                        factors[j] = blocked * stays + (1 - blocked) * fail[j]
                    }
                    all *= factors[j]
                }
                next += weights[index] * all
                for j in 0..<count {
                    var without = 1.0
                    for k in 0..<count where k != j { without *= factors[k] }
                    nextOthers[j] += weights[index] * without
                }
            }
            others = nextOthers
            let settled = abs(next - unrecovered) <= unrecovered * 1e-4
            unrecovered = next
            if settled { break }
        }
        return p * unrecovered
    }

    /// `residual(of:lossRate:weights:)` for a window's own loss rate and bursts.
    public static func residual(of code: FECParameters, window: LossWindow) -> Double {
        residual(of: code, lossRate: window.lossRate, weights: burstWeights(window))
    }
}
