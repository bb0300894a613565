/// How a sender chooses its code: one fixed code, or the cheapest one the measured loss allows.
public enum FECMode: String, Sendable, Equatable, CaseIterable {
    /// Always the configured code.
    case fixed
    /// The code picked by `AdaptivePolicy` from the receiver's loss reports.
    case adaptive
}

/// The knobs of adaptive FEC (`fec:` in the config).
public struct AdaptationSettings: Sendable, Equatable {
    /// Fixed or adaptive.
    public var mode: FECMode
    /// The residual loss (after decoding) the policy aims below.
    public var targetResidual: Double
    /// The least repair overhead ever used, so sporadic single losses are still repaired.
    public var minOverhead: Double
    /// The most repair overhead ever used.
    public var maxOverhead: Double
    /// How long a lower need must last before the code steps down, in nanoseconds.
    public var stepDownAfterNanoseconds: UInt64
    /// How often a receiver reports what it measured, in nanoseconds.
    public var reportIntervalNanoseconds: UInt64
    /// Queue delay above which (and above half the minute's peak) the receiver calls the path
    /// congested and keeps its losses out of the reports; 0 counts every loss.
    public var congestionDelayNanoseconds: UInt64

    /// How often keepalives go while data flows in adaptive mode: they are the delay probes.
    public static let probeIntervalNanoseconds: UInt64 = 50_000_000

    /// The defaults: adaptive off (the core's callers opt in; the daemon's config defaults to
    /// adaptive), target 1e-6, overhead between 0.03 and 0.5, down after 1.5 s, reports every 250 ms,
    /// congestion above 5 ms of queue.
    public init(
        mode: FECMode = .fixed, targetResidual: Double = 1e-6, minOverhead: Double = 0.03, maxOverhead: Double = 0.5,
        stepDownAfterNanoseconds: UInt64 = 1_500_000_000, reportIntervalNanoseconds: UInt64 = 250_000_000,
        congestionDelayNanoseconds: UInt64 = 5_000_000
    ) {
        self.congestionDelayNanoseconds = congestionDelayNanoseconds
        self.mode = mode
        self.targetResidual = targetResidual
        self.minOverhead = minOverhead
        self.maxOverhead = maxOverhead
        self.stepDownAfterNanoseconds = stepDownAfterNanoseconds
        self.reportIntervalNanoseconds = reportIntervalNanoseconds
    }
}

/// The codes adaptive FEC chooses from, cheapest first.
///
/// Every code starts with an interleave-1 layer (single losses come back within `r` packets) and
/// stays within the configured code's bounds: no deeper interleave, no longer span
/// `(r + 1) · I_max` (so the peer's decoder window, sized from the same config, holds it), no more
/// bins (so memory stays what the config check counted) and no more layers. The span is bounded
/// by half the decoder window the configured code gets (1024 packets for the default code).
public enum CodeLadder {
    /// The packets-per-repair values tried.
    public static let rValues = [33, 24, 16, 12, 10, 8, 6, 5, 4, 3, 2]

    /// The ladder under `bound` (the configured code), overheads within `[minimum, maximum]`
    /// (the bound itself is always kept as the last resort), sorted by overhead then depth.
    public static func codes(bound: FECParameters, minimumOverhead: Double, maximumOverhead: Double) -> [FECParameters] {
        let deepestBound = bound.interleaves.max() ?? 1
        // The peer's decoder window (sized from the same config) holds spans up to half of it.
        let span = max((bound.r + 1) * deepestBound, DecoderParameters(for: bound).windowPackets / 2)
        let bins = bound.interleaves.reduce(0, +)
        var codes: [FECParameters] = []
        for r in rValues {
            let deepest = min(deepestBound, span / (r + 1))
            var shapes: [[Int]] = [[1]]
            if deepest > 1 && bound.c >= 2 { shapes.append([1, deepest]) }
            if bound.c >= 3 {
                // The deepest interleave at most `deepest` whose repairs meet the middle layer's in
                // at most one packet (59 rather than 60 beside 16 at r = 16, 37 rather than 40 beside 24 at r = 24).
                let middle = max(r, Int(Double(deepest).squareRoot().rounded()))
                if middle > 1 && middle < deepest,
                    let third = stride(from: deepest, to: middle, by: -1).first(where: {
                        !FECParameters.canShareTwo(r: r, middle, $0)
                    })
                {
                    shapes.append([1, middle, third])
                }
            }
            for shape in shapes where shape.reduce(0, +) <= bins {
                let code = FECParameters(
                    r: r, interleaves: shape, flushAfterNanoseconds: bound.flushAfterNanoseconds, maxPacketSize: bound.maxPacketSize)
                // Only codes whose layers' bins share at most one packet: the residual model
                // assumes it, and shared packets make losses block two layers at once.
                guard let warnings = try? code.validate(), warnings.isEmpty else { continue }
                let overhead = code.nominalOverhead
                guard overhead >= minimumOverhead - 1e-9 && overhead <= maximumOverhead + 1e-9 else { continue }
                codes.append(code)
            }
        }
        if !codes.contains(bound) && (try? bound.validate()) != nil { codes.append(bound) }
        return codes.sorted {
            $0.nominalOverhead != $1.nominalOverhead
                ? $0.nominalOverhead < $1.nominalOverhead : ($0.interleaves.max() ?? 0) > ($1.interleaves.max() ?? 0)
        }
    }
}

/// The sender's choice of code, fed with the receiver's loss reports: the cheapest code of the
/// ladder whose predicted residual is below the target; up at once when loss appears, down only
/// after the lower need has lasted `stepDownAfter` (and with a margin), so it does not flap.
///
/// A value type without clock or I/O: the gateway feeds it reports and the time.
public struct AdaptivePolicy: Sendable {
    /// The settings it runs with.
    public let settings: AdaptationSettings
    /// The codes it picks from, cheapest first.
    public let ladder: [FECParameters]
    /// The code in use.
    public private(set) var current: FECParameters
    /// The predicted residual of the current code for the last report's loss.
    public private(set) var predictedResidual: Double = 0
    /// Times the code was changed.
    public private(set) var switches: UInt64 = 0

    // The highest need seen since the need first fell below the current code, and when.
    private var lowerNeed: Int? = nil
    private var lowerSince: UInt64 = 0
    // The need of the last window with enough packets judged outside congestion (nil before one).
    private var evidenceNeed: Int? = nil
    // Since when the peer's reports have judged too little of what this lane sent (a full queue).
    private var congestedSince: UInt64? = nil
    // This lane's data frames sent to the peer at the previous report, and when.
    private var sentAtLastReport: (frames: UInt64, at: UInt64)? = nil
    // This lane's sending rate in data frames a second, smoothed over reports (nil before two).
    private var framesPerSecond: Double? = nil
    // The layer-0 flush deadline every code of the ladder shares, in seconds.
    private let flushSeconds: Double

    /// Windows with fewer packets than this say too little; the long window is used instead.
    public static let minimumSample: UInt64 = 2000
    /// The model's residual is multiplied by this before it is held against the target: the
    /// model leaves out small stopping sets (four losses closing a cycle across two layers), and
    /// under random loss it rates two-layer codes up to 2.6x low against the simulator
    /// (docs/TUNING.md, `ResidualModelTests`).
    public static let modelMargin = 3.0
    /// Loss is inflated by this much when deciding to step down: only clearly lower loss does.
    public static let stepDownMargin = 1.5

    /// Starts with `start` (the configured code, so a link that loses from the first packet is protected).
    public init(settings: AdaptationSettings, bound: FECParameters) {
        self.settings = settings
        self.ladder = CodeLadder.codes(bound: bound, minimumOverhead: settings.minOverhead, maximumOverhead: settings.maxOverhead)
        self.current = bound
        self.flushSeconds = Double(bound.flushAfterNanoseconds) / 1e9
    }

    /// The overhead `code` really sends at `framesPerSecond`: a layer-j bin receives a packet every
    /// I_j packets and is flushed I_j flush deadlines after its first, so it holds at most
    /// `rate × flush deadline` packets whatever r is. Below that rate a larger r saves nothing and
    /// only makes the deeper layers' repairs later.
    public static func sentOverhead(of code: FECParameters, framesPerSecond: Double?) -> Double {
        guard let rate = framesPerSecond else { return code.nominalOverhead }
        let members = max(1, min(Double(code.r), rate * Double(code.flushAfterNanoseconds) / 1e9))
        return Double(code.c) / members
    }

    /// The index in the ladder of the cheapest code, at this lane's sending rate, predicted to meet
    /// the target for `window` with its loss multiplied by `margin` (the lowest predicted residual
    /// when none meets it). Among codes that cost the same at that rate (a slow lane flushes every
    /// bin at its deadline) the one whose middle layer is shallowest wins: its repairs come soonest.
    public func need(for window: LossWindow, margin: Double = 1) -> Int {
        let rate = min(1, window.lossRate * margin)
        guard rate > 0 else { return 0 }
        let weights = ResidualModel.burstWeights(window)
        var best = 0
        var bestResidual = Double.infinity
        var chosen: (index: Int, cost: Double, middle: Int)? = nil
        for (index, code) in ladder.enumerated() {
            let residual = ResidualModel.residual(of: code, lossRate: rate, weights: weights) * Self.modelMargin
            if residual <= settings.targetResidual {
                let cost = Self.sentOverhead(of: code, framesPerSecond: framesPerSecond)
                let middle = code.interleaves.count > 1 ? code.interleaves[1] : 0
                if let held = chosen {
                    // The ladder is in nominal order: a later code can only win on this lane's rate.
                    if cost > held.cost + 1e-9 || (cost > held.cost - 1e-9 && middle >= held.middle) { continue }
                } else if framesPerSecond == nil || code.r <= Int((framesPerSecond ?? 0) * flushSeconds) {
                    return index  // bins fill before their deadline: nominal order is cost order
                }
                chosen = (index, cost, middle)
                continue
            }
            if chosen == nil && residual < bestResidual * 0.999 {
                best = index
                bestResidual = residual
            }
        }
        return chosen?.index ?? best
    }

    /// Takes a report received at `now`; returns the code to switch to, or nil to keep the current
    /// one. `dataFramesSent`, when given, is how many data frames this lane has sent the peer so far:
    /// a report that judged far fewer than that (the peer leaves frames that crossed a full queue
    /// out of its windows) says the path is congested rather than nothing.
    public mutating func consider(_ report: LossReportFrame, now: UInt64, dataFramesSent: UInt64? = nil) -> FECParameters? {
        guard settings.mode == .adaptive else { return nil }
        let congested = sentMostlyUnjudged(report, now: now, dataFramesSent: dataFramesSent)
        var window = report.short.expected >= Self.minimumSample ? report.short : report.long
        guard window.expected >= Self.minimumSample / 4 else {
            return congested ? stepDownInCongestion(now: now) : nil
        }
        congestedSince = nil
        // A report is the peer's word, authenticated but not trusted to be consistent.
        window.lost = min(window.lost, window.expected)
        window.unrecovered = min(window.unrecovered, window.expected)
        let currentIndex = ladder.firstIndex(of: current) ?? ladder.count - 1
        let up = need(for: window)
        predictedResidual = ResidualModel.residual(of: current, window: window)
        // The long window stands in for a short one too thin to judge (a slow link), but it also
        // holds loss from seconds ago: when traffic pauses, the short window is empty and old loss
        // must not raise the code. Up on the long window only while the short one still loses.
        let stale = report.short.expected < Self.minimumSample && report.short.lost == 0
        if !stale { evidenceNeed = up }
        if up > currentIndex && !stale {
            lowerNeed = nil
            return move(to: up)
        }
        let down = need(for: window, margin: Self.stepDownMargin)
        guard down < currentIndex else {
            lowerNeed = nil
            return nil
        }
        if let seen = lowerNeed {
            lowerNeed = max(seen, down)
        } else {
            lowerNeed = down
            lowerSince = now
        }
        guard now >= lowerSince, now - lowerSince >= settings.stepDownAfterNanoseconds, let target = lowerNeed else { return nil }
        lowerNeed = nil
        return move(to: target)
    }

    /// Whether the peer judged less than a quarter of the frames this lane sent over the report's
    /// short window (estimated from the sending rate since the previous report).
    private mutating func sentMostlyUnjudged(_ report: LossReportFrame, now: UInt64, dataFramesSent: UInt64?) -> Bool {
        guard let sent = dataFramesSent else { return false }
        defer { sentAtLastReport = (sent, now) }
        guard let last = sentAtLastReport, now > last.at, sent >= last.frames else { return false }
        let perNanosecond = Double(sent - last.frames) / Double(now - last.at)
        framesPerSecond = framesPerSecond.map { ($0 + perNanosecond * 1e9) / 2 } ?? perNanosecond * 1e9
        let sentInShortWindow = perNanosecond * Double(report.shortMilliseconds) * 1e6
        return sentInShortWindow >= Double(Self.minimumSample) && Double(report.short.expected) * 4 < sentInShortWindow
    }

    /// A path congested for `stepDownAfter` with no judged window: repairing a full queue's drops
    /// only hides congestion from TCP (which then keeps the queue full, and the repairs take its
    /// room), so the code falls to what the last judged window needed, or to the cheapest code
    /// when none was ever judged (the configured code it starts with was only a precaution).
    private mutating func stepDownInCongestion(now: UInt64) -> FECParameters? {
        let since = congestedSince ?? now
        congestedSince = since
        guard now >= since, now - since >= settings.stepDownAfterNanoseconds else { return nil }
        let currentIndex = ladder.firstIndex(of: current) ?? ladder.count - 1
        let target = min(currentIndex, evidenceNeed ?? 0)
        guard target < currentIndex else { return nil }
        lowerNeed = nil
        return move(to: target)
    }

    private mutating func move(to index: Int) -> FECParameters? {
        let code = ladder[index]
        guard code != current else { return nil }
        current = code
        switches &+= 1
        return code
    }
}
