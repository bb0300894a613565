/// The codes adaptive FEC chooses from, cheapest first.
///
/// Every code starts with an interleave-1 layer (single losses come back within `r` packets) and
/// stays within the configured code's bounds: no deeper interleave, no more bins (so memory stays
/// what the config check counted) and no more layers; and its span `(r + 1) · I_max` is at most
/// half the peer's decoder window, so the peer's decoder (sized from the same config) holds every
/// repair's members. Layers' bins share at most one packet (`FECParameters.validate()` warns of
/// nothing), which the residual model assumes.
public enum CodeLadder {
    /// The packets-per-repair values tried. Above 33 only codes of two layers or more reach the
    /// default `min-overhead` (0.03); with two layers, r = 62 costs 0.032 and rebuilds 0.1 %
    /// random loss to about 1e-9 (docs/TUNING.md).
    public static let rValues = [62, 48, 40, 33, 28, 24, 20, 16, 12, 10, 8, 6, 5, 4, 3, 2]

    /// The ladder under `bound` (the configured code) for a peer whose decoder window holds
    /// `decoderWindow` packets, overheads within `[minimum, maximum]` (the bound itself is always
    /// kept as the last resort), sorted by overhead then depth.
    ///
    /// For each r: one layer `[1]`; two layers `[1, r]` (the shallowest second layer, the fastest
    /// to rebuild double losses) and `[1, D]` (the deepest allowed, for bursts); three layers
    /// `[1, r, D']` (the shallowest third layer that shares at most one packet with the second)
    /// and `[1, M, D']` (M = max(r, √D), D' the deepest such third layer: for bursts).
    public static func codes(
        bound: FECParameters, decoderWindow: Int, minimumOverhead: Double, maximumOverhead: Double
    ) -> [FECParameters] {
        let deepestBound = bound.interleaves.max() ?? 1
        let span = max((bound.r + 1) * deepestBound, decoderWindow / 2)
        let bins = bound.interleaves.reduce(0, +)
        var codes: [FECParameters] = []
        for r in rValues {
            let deepest = min(deepestBound, span / (r + 1))
            var shapes: [[Int]] = [[1]]
            if bound.c >= 2 {
                if r > 1 && r <= deepest { shapes.append([1, r]) }
                if deepest > r { shapes.append([1, deepest]) }
            }
            if bound.c >= 3 {
                if r > 1, let third = ((r + 1)...max(r + 1, deepest)).first(where: { $0 <= deepest && !FECParameters.canShareTwo(r: r, r, $0) }) {
                    shapes.append([1, r, third])
                }
                // The deepest interleave at most `deepest` whose repairs meet the middle layer's in
                // at most one packet (59 rather than 60 beside 16 at r = 16, 37 rather than 40 beside 24 at r = 24).
                // Within the bound's bins too: 24 [1, 24, 75] rather than 24 [1, 24, 100] under 8 [1, 10, 100].
                let middle = max(r, Int(Double(deepest).squareRoot().rounded()))
                if middle > 1 && middle < deepest,
                    let third = stride(from: min(deepest, bins - 1 - middle), to: middle, by: -1).first(where: {
                        !FECParameters.canShareTwo(r: r, middle, $0)
                    })
                {
                    shapes.append([1, middle, third])
                    // Shallower third layers too, rebuilding sooner: about 1.5, 2 and 3 times the
                    // middle one (the deepest valid interleave up to each).
                    for factor in [1.5, 2.0, 3.0] {
                        let target = min(third - 1, Int(Double(middle) * factor))
                        if let shallower = stride(from: target, to: middle, by: -1).first(where: {
                            !FECParameters.canShareTwo(r: r, middle, $0)
                        }) {
                            shapes.append([1, middle, shallower])
                        }
                    }
                }
            }
            for shape in shapes where shape.reduce(0, +) <= bins {
                let code = FECParameters(
                    r: r, interleaves: shape, flushAfterNanoseconds: bound.flushAfterNanoseconds, maxPacketSize: bound.maxPacketSize)
                guard !codes.contains(code), (r + 1) * (shape.last ?? 1) <= span else { continue }
                // Only codes whose layers' bins share at most one packet: the residual model
                // assumes it, and shared packets make losses block two layers at once.
                guard let warnings = try? code.validate(), warnings.isEmpty else { continue }
                let overhead = code.nominalOverhead
                guard overhead >= minimumOverhead - 1e-9 && overhead <= maximumOverhead + 1e-9 else { continue }
                codes.append(code)
            }
        }
        if !codes.contains(bound) && (try? bound.validate()) != nil { codes.append(bound) }
        codes += stretched(codes, bound: bound)
        return codes.sorted {
            if $0.nominalOverhead != $1.nominalOverhead { return $0.nominalOverhead < $1.nominalOverhead }
            if $0.interleaves.max() != $1.interleaves.max() { return ($0.interleaves.max() ?? 0) > ($1.interleaves.max() ?? 0) }
            return $0.flushAfterNanoseconds < $1.flushAfterNanoseconds
        }
    }

    /// How much longer than the configured deadline a stretched code's bins may wait to fill.
    public static let stretchFactor = 1.5
    /// The least r given a stretched twin: below it a bin of the configured deadline fills at
    /// the rates where a stretch is allowed (`AdaptivePolicy.allowsStretch`) and saves little.
    public static let stretchMinimumR = 33

    /// Twins of `codes`' multi-layer codes of r ≥ `stretchMinimumR` whose layer-0 deadline is
    /// `stretchFactor` times the configured one (deeper layers scale with it). At 8,000 frames a
    /// second a 5 ms bin closes with 40 packets, so 62 [1, 62] sends 0.05 instead of 0.032; at
    /// 7.5 ms it holds 60. Only twins whose longest deadline stays within the bound's, so the
    /// peer's decoder (whose hold time is sized from the bound) still waits long enough.
    static func stretched(_ codes: [FECParameters], bound: FECParameters) -> [FECParameters] {
        let flush = UInt64((Double(bound.flushAfterNanoseconds) * stretchFactor).rounded())
        var twins: [FECParameters] = []
        for code in codes where code.c >= 2 && code.r >= stretchMinimumR && code.flushAfterNanoseconds == bound.flushAfterNanoseconds {
            var twin = code
            twin.flushAfterNanoseconds = flush
            guard twin.longestFlushDeadline <= bound.longestFlushDeadline, !codes.contains(twin), !twins.contains(twin) else { continue }
            twins.append(twin)
        }
        return twins
    }

    /// A code's name in tables and logs: `shortDescription`, with its flush deadline when it is
    /// not the configured one (a stretched twin).
    public static func label(of code: FECParameters, bound: FECParameters) -> String {
        guard code.flushAfterNanoseconds != bound.flushAfterNanoseconds else { return code.shortDescription }
        return "\(code.shortDescription)@\(Double(code.flushAfterNanoseconds) / 1e6)ms"
    }
}
