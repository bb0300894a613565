#if canImport(Glibc)
import Glibc  // exp: libm only, no I/O
#elseif canImport(Darwin)
import Darwin
#endif

/// The sender's choice of code, fed with the receiver's loss reports: the cheapest code of the
/// ladder, at this lane's sending rate, whose predicted residual is below the target and which
/// rebuilds almost every loss within the recovery budget; up at once when loss appears, down only
/// after the lower need has lasted `stepDownAfter` (and with a margin), so it does not flap.
///
/// A value type without clock or I/O: the gateway feeds it reports, the path's round trip and the time.
public struct AdaptivePolicy: Sendable {
    /// The settings it runs with.
    public let settings: AdaptationSettings
    /// The codes it picks from, cheapest first.
    public let ladder: [FECParameters]
    /// The code in use.
    public private(set) var current: FECParameters
    /// The predicted residual of the current code for the last report's loss.
    public var predictedResidual: Double { decision.predictedResidual }
    /// What the last report was judged by, and what the current code is predicted to do with it.
    public private(set) var decision = CodeDecision()
    /// Times the code was changed.
    public private(set) var switches: UInt64 = 0
    /// What the policy made of its last report (for the debug log: why a code was kept).
    public private(set) var judgement = ReportJudgement()
    /// This lane's sending rate in data frames a second, smoothed over reports (nil before two).
    public private(set) var framesPerSecond: Double? = nil
    /// The path's round trip between the gateways, in nanoseconds (nil before one is known).
    public private(set) var roundTripNanoseconds: UInt64? = nil

    // The highest need seen since the need first fell below the current code, and when.
    private var lowerNeed: Int? = nil
    private var lowerSince: UInt64 = 0
    // The last window with enough packets judged outside congestion (nil before one): what a
    // congested path falls back to, judged again at the lane's rate of the moment.
    private var evidence: LossWindow? = nil
    // Another lane's window to the same peer, taken while this lane had judged none of its own.
    private var borrowed: LossWindow? = nil
    // Since when the peer's reports have judged too little of what this lane sent (a full queue).
    private var congestedSince: UInt64? = nil
    // This lane's data frames sent to the peer at the previous report, and when.
    private var sentAtLastReport: (frames: UInt64, at: UInt64)? = nil
    // Whether `framesPerSecond` comes from this lane's own count yet.
    private var rateMeasured = false
    // The window of the report being considered.
    private var judged: LossWindow? = nil

    /// Windows with fewer packets than this say too little; the long window is used instead.
    public static let minimumSample: UInt64 = 2000
    /// The model's residual is multiplied by this before it is held against the target: the
    /// model leaves out small stopping sets (four losses closing a cycle across two layers), and
    /// under random loss it rates two-layer codes up to 2.6x low against the simulator
    /// (docs/TUNING.md, `ResidualModelTests`).
    public static let modelMargin = 3.0
    /// The most a window's loss is inflated by when deciding to step down (`stepDownMargin(for:)`):
    /// a window of few bursts says little, and only clearly lower loss steps down.
    public static let stepDownMargin = 1.5
    /// The least it is inflated by, however many bursts the window holds: loss is not stationary
    /// (a TCP sawtooth's queue drops that escape the congestion marks come and go), so even a
    /// window of thousands of bursts is not taken at its word.
    public static let stepDownMarginFloor = 1.15

    /// What `window`'s loss is inflated by when deciding to step down: two standard errors of its
    /// count of bursts (a Poisson count of n has a relative error of 1/√n), within
    /// [`stepDownMarginFloor`, `stepDownMargin`]. The count rather than the packets lost: a burst
    /// of five is one event, and what varies between windows is how many occur.
    ///
    /// A fixed 1.5 put the bed's 0.1 % (Reno, 100 Mbit/s: about 80 bursts in 10 s, an error of
    /// 11 %) at 0.15 %, on the boundary between 48 [1, 48]@7.5ms (0.042) and 62 [1, 62]@7.5ms
    /// (0.033), and runs went either way; with 1.22 it is 0.12 %, clearly 62.
    public static func stepDownMargin(for window: LossWindow) -> Double {
        let bursts = Double(window.bursts.total)
        guard bursts > 0 else { return stepDownMargin }
        return min(stepDownMargin, max(stepDownMarginFloor, 1 + 2 / bursts.squareRoot()))
    }

    /// What `window`'s loss is multiplied by when a congested path steps down by it
    /// (`stepDownInCongestion`): two standard errors of its count of bursts below 1, at least 0
    /// (the least loss the window is consistent with).
    ///
    /// Low rather than high, because the two errors do not cost the same. A code too weak for a
    /// full queue's path lets TCP see a loss; it backs off, the queue drains, the peer judges again
    /// and the code goes up. A code too strong repairs the queue's own drops, so TCP keeps the
    /// queue full, the peer judges nothing, and the code stays: on the bed (Reno, 100 Mbit/s,
    /// 0.1 %) the peer judged 956 frames of a 20 s transfer, whose two losses (0.21 %) held
    /// 33 [1, 33] (0.06) throughout, and the transfer kept 0.877 of the loss-free goodput.
    public static func congestedLossFactor(for window: LossWindow) -> Double {
        let bursts = Double(window.bursts.total)
        guard bursts > 0 else { return 1 }
        return max(0, 1 - 2 / bursts.squareRoot())
    }
    /// The most packets per packet sent that may be rebuilt later than the recovery budget. Such
    /// a packet costs the end hosts a spurious retransmission, which Linux undoes once the
    /// duplicate is reported, not a lasting window cut; on the bed (Reno, 200 Mbit/s, 50 ms)
    /// 62 [1, 62] under 0.1 % random loss rebuilt 6e-5 late and kept the loss-free goodput,
    /// while 48 [1, 48, 97] under 1 % rebuilt 4e-3 late and lost three quarters of it.
    public static let lateShareLimit = 1e-4
    /// A second that loses more than this, and more than three times the seconds before it, is
    /// judged by the seconds before it (`judgedWindow`): on the bed, TCP's slow starts overflowing
    /// the queue past the receiver's congestion marks showed as 4.7 % in one second of a 1 %
    /// link, and the code went to 0.5 overhead for two seconds.
    public static let spikeLossRate = 0.03
    /// A window losing more than this is not acted on: such loss is a full queue the receiver's
    /// congestion marks missed (a TCP slow start overshooting it lost 12 to 27 % of a second's
    /// frames on the bed) or an outage, and neither is for FEC to repair; taken as evidence it
    /// held a lane at 0.5 overhead for the next connection's whole life.
    public static let implausibleLossRate = 0.05
    /// The code in use is kept while its predicted residual and late share stay within this factor
    /// of the target and the limit: estimates from a second or ten of traffic move by that much
    /// (congestion that escaped the receiver's marks, the rate of a TCP sawtooth), and a code that
    /// is left the moment it seems a little short flaps. A code clearly short is left at once.
    public static let holdBand = 3.0
    /// Codes whose cost at this lane's rate is within this fraction of the cheapest suitable one
    /// count as equally cheap; among them the one with the most layers wins (a loss that appears
    /// later meets more repairs), then the cheapest, then the shallowest second layer.
    public static let tieTolerance = 0.1

    /// Starts with `bound` (the configured code, so a link that loses from the first packet is
    /// protected: started at the cheapest code instead, a Reno connection under 1 % loss lost its
    /// slow start to the first quarter second's unrepaired losses and crawled at 48 Mbit/s of
    /// 200 for the next 20 s); the first window judged takes it down at once if the link is clean.
    /// The ladder is sized for a peer decoder of `decoderWindow` packets (by default the window
    /// `DecoderParameters(for:mode:)` gives the bound).
    public init(settings: AdaptationSettings, bound: FECParameters, decoderWindow: Int? = nil) {
        self.settings = settings
        self.ladder = CodeLadder.codes(
            bound: bound, decoderWindow: decoderWindow ?? DecoderParameters(for: bound, mode: settings.mode).windowPackets,
            minimumOverhead: settings.minOverhead, maximumOverhead: settings.maxOverhead)
        self.current = bound
        self.configuredFlushNanoseconds = bound.flushAfterNanoseconds
    }

    // The configured code's layer-0 deadline: codes with a longer one are stretched twins.
    private let configuredFlushNanoseconds: UInt64

    /// The least packets a bin of the configured deadline must hold at this lane's rate before a
    /// stretched code (`CodeLadder.stretched`) may be used: slower lanes keep the configured
    /// deadline, since their losses wait for it (a message stream's latency, docs/RESULTS.md).
    public static let stretchMinimumMembers = 20.0

    /// Whether `code` may be used at this lane's rate: a code of the configured deadline always;
    /// a stretched one only while a bin of the configured deadline would close part-full (holding
    /// fewer than r packets) yet hold at least `stretchMinimumMembers`.
    public func allowsStretch(_ code: FECParameters) -> Bool {
        guard code.flushAfterNanoseconds > configuredFlushNanoseconds else { return true }
        guard let rate = framesPerSecond else { return false }
        let members = rate * Double(configuredFlushNanoseconds) / 1e9
        return members < Double(code.r) && members >= Self.stretchMinimumMembers
    }

    /// For tools (`maelstromd tune`): what the policy would know of a lane sending
    /// `framesPerSecond` over a path of round trip `roundTripNanoseconds`.
    public mutating func assume(framesPerSecond: Double?, roundTripNanoseconds: UInt64?) {
        self.framesPerSecond = framesPerSecond
        self.roundTripNanoseconds = roundTripNanoseconds
        isMessageLane = false
        classifyLane()
    }

    /// The recovery budget in seconds: the fixed one, or the path's round trip (`unmeasuredBudgetSeconds`
    /// before one is known), at most `messageLaneBudgetFlushes` configured deadlines on a message lane.
    public var recoveryBudgetSeconds: Double? {
        switch settings.recoveryBudget {
        case .fixed(let nanoseconds):
            return Double(nanoseconds) / 1e9
        case .roundTrip:
            let roundTrip = roundTripNanoseconds.map { Double($0) / 1e9 } ?? Self.unmeasuredBudgetSeconds
            guard isMessageLane else { return roundTrip }
            return min(roundTrip, Self.messageLaneBudgetFlushes * Double(configuredFlushNanoseconds) / 1e9)
        }
    }

    /// Whether this lane is too slow to fill a bin of the configured deadline with
    /// `stretchMinimumMembers` packets: a paced stream (messages, requests, the ACKs of a slow
    /// transfer) rather than a bulk one. Every rebuild such a lane waits for stalls the messages
    /// behind the lost one, and its repairs cost little bandwidth, so rebuild time comes first
    /// (`messageLaneBudgetFlushes`, and `need`'s fallback). False before the rate is known; a
    /// message lane stays one until its bins would hold `messageLaneHysteresis` times the threshold.
    public private(set) var isMessageLane = false

    /// How far above `stretchMinimumMembers` a message lane's rate must rise before it is judged as
    /// a bulk lane again. The ACK lane of a 100 Mbit/s Reno transfer carries about 4,000 frames a
    /// second, right at the threshold, and its sawtooth moves that by a third: without a band the
    /// lane's budget went from 10 ms to the round trip and back with it.
    public static let messageLaneHysteresis = 1.25

    // Judges the lane again after its rate changed.
    private mutating func classifyLane() {
        guard let rate = framesPerSecond else {
            isMessageLane = false
            return
        }
        let members = rate * Double(configuredFlushNanoseconds) / 1e9
        isMessageLane = members < Self.stretchMinimumMembers * (isMessageLane ? Self.messageLaneHysteresis : 1)
    }

    /// A message lane's recovery budget (with the default, round-trip one) in configured flush
    /// deadlines: 10 ms at the default 5 ms. A stream of 1,000 messages a second under 1 % random
    /// loss stalls behind every double loss of a 5 ms bin until the second layer rebuilds it; with
    /// the round trip as budget the policy ran codes whose second layer closes within 40–50 ms,
    /// and the stream's p99.9 was one-way + 5 to + 36 ms on the bed; with this budget it runs
    /// 4 [1, 4] (16 ms) and the p99.9 was + 7.3 to + 10.3 ms (docs/TUNING.md §4).
    public static let messageLaneBudgetFlushes = 2.0

    /// The budget while the round trip is not known yet (a lane whose first report comes before a
    /// keepalive echo): short, so the first code rebuilds soon. Judged with no budget at all, the
    /// first report of a Reno connection under 1 % loss picked 48 [1, 48, 61], whose second layer
    /// takes 240 ms at a slow start's rate, and the connection ran at half the speed for 20 s.
    public static let unmeasuredBudgetSeconds = 0.02

    /// The overhead `code` really sends at `framesPerSecond`: a layer-j bin receives a packet every
    /// I_j packets and is flushed I_j flush deadlines after its first, so it holds at most
    /// `rate × flush deadline` packets whatever r is. Below that rate a larger r saves nothing and
    /// only makes the deeper layers' repairs later.
    public static func sentOverhead(of code: FECParameters, framesPerSecond: Double?) -> Double {
        Double(code.c) / Double(effectiveR(of: code, framesPerSecond: framesPerSecond))
    }

    /// The members a bin of `code` really holds at `framesPerSecond` (see `sentOverhead`).
    public static func effectiveR(of code: FECParameters, framesPerSecond: Double?) -> Int {
        guard let rate = framesPerSecond else { return code.r }
        let members = rate * Double(code.flushAfterNanoseconds) / 1e9
        return members >= Double(code.r) ? code.r : max(2, Int(members))
    }

    /// The longest time, in seconds, from a loss to the moment its bin of layer `layer` closes:
    /// the bin's fill time, `r · I_j` packets at `framesPerSecond`, or its flush deadline,
    /// whichever comes first. Nil when the rate is not known.
    ///
    /// The longest rather than the mean: on the bed (Reno, 50 ms RTT, 17,000 frames a second,
    /// 1 % random loss), 33 [1, 33, 67], whose second layer closes within 64 ms (32 on average),
    /// kept 0.88 of the loss-free goodput, and 40 [1, 40, 41] (94 ms, 47 on average) 0.32.
    public static func recoveryTime(of code: FECParameters, layer: Int, framesPerSecond: Double?) -> Double? {
        guard let rate = framesPerSecond, rate > 0 else { return nil }
        let fill = Double(code.r) * Double(code.interleaves[layer]) / rate
        return min(fill, Double(code.flushDeadline(layer: layer)) / 1e9)
    }

    /// How many of `code`'s layers, from the shallowest, rebuild within the recovery budget (all of
    /// them while the rate or the budget is not known).
    public func fastLayers(of code: FECParameters) -> Int {
        guard let budget = recoveryBudgetSeconds else { return code.c }
        var count = 0
        for layer in 0..<code.c {
            guard let time = Self.recoveryTime(of: code, layer: layer, framesPerSecond: framesPerSecond) else { return code.c }
            if time > budget { break }
            count += 1
        }
        return count
    }

    /// The share of packets `code` rebuilds later than the recovery budget. A loss that layer j
    /// rebuilds waits for its bin to close, which happens at a time spread evenly over the bin's
    /// fill time `T_j` (it depends on where in the bin the loss sat), so a layer slower than the
    /// budget B rebuilds late the share `1 − B/T_j` of what reaches it; what reaches layer j and
    /// is rebuilt there is what the first j layers alone leave minus what the first j + 1 leave
    /// (`ResidualModel` over the code cut to its shallowest layers). Losses no layer rebuilds are
    /// the residual, not late.
    public func lateShare(of code: FECParameters, lossRate: Double, weights: [Double]) -> Double {
        guard lossRate > 0, let budget = recoveryBudgetSeconds else { return 0 }
        var seen = modelled(code)
        let layers = seen.interleaves
        var late = 0.0
        // What the first j layers leave, for the j of the slow layers only (from the deepest down).
        var leftByDeeper = ResidualModel.residual(of: seen, lossRate: lossRate, weights: weights)
        for layer in stride(from: layers.count - 1, through: 0, by: -1) {
            guard let time = Self.recoveryTime(of: code, layer: layer, framesPerSecond: framesPerSecond), time > budget else { break }
            let leftBefore: Double
            if layer == 0 {
                leftBefore = lossRate
            } else {
                seen.interleaves = Array(layers.prefix(layer))
                leftBefore = ResidualModel.residual(of: seen, lossRate: lossRate, weights: weights)
            }
            late += max(0, leftBefore - leftByDeeper) * (1 - budget / time)
            leftByDeeper = leftBefore
        }
        return late
    }

    /// The model's residual for `code` at this lane's rate (bins of `effectiveR` members), without
    /// the margin.
    public func residual(of code: FECParameters, for window: LossWindow) -> Double {
        ResidualModel.residual(of: modelled(code), window: window)
    }

    /// `code` as the model should see it at this lane's rate: bins of `effectiveR` members.
    private func modelled(_ code: FECParameters) -> FECParameters {
        var seen = code
        seen.r = Self.effectiveR(of: code, framesPerSecond: framesPerSecond)
        return seen
    }

    /// The index in the ladder of the code to use for `window`'s loss multiplied by `margin`, with
    /// the burst lengths of `shape` (default: the window's own): among the codes predicted to meet
    /// the target and to rebuild late no more than `lateShareLimit`, the cheapest at this lane's
    /// rate, with ties (`tieTolerance`) going to more layers, then lower cost, then fewer late
    /// rebuilds, then the lowest nominal overhead, then the shallowest second layer. When none
    /// qualifies: on a message lane (`isMessageLane`) the code with the least residual plus late
    /// share; elsewhere the fastest of those meeting the target, else the code with the lowest
    /// predicted residual.
    public func need(for window: LossWindow, margin: Double = 1, shape: LossWindow? = nil) -> Int {
        let rate = min(1, window.lossRate * margin)
        let weights = ResidualModel.burstWeights(shape ?? window)
        var candidates: [(index: Int, cost: Double, layers: Int, late: Double, second: Int)] = []
        var cheapest = Double.infinity
        var fastest: (index: Int, late: Double)? = nil
        // The cheapest code within the hold band of the late limit: the fallback before the fastest.
        var lenient: Int? = nil
        var lowest: (index: Int, residual: Double) = (0, .infinity)
        // On a message lane: the code that stalls the fewest packets, late or never rebuilt.
        let messageLane = isMessageLane
        var leastStalled: (index: Int, share: Double)? = nil
        for (index, code) in ladder.enumerated() {
            // A code never sends less than its nominal overhead, and the ladder is in nominal
            // order: past the tie limit of the cheapest candidate nothing can be picked.
            if code.nominalOverhead > cheapest * (1 + Self.tieTolerance) + 1e-9 { break }
            guard allowsStretch(code) else { continue }
            let residual = rate > 0 ? ResidualModel.residual(of: modelled(code), lossRate: rate, weights: weights) * Self.modelMargin : 0
            let late = residual > settings.targetResidual && !messageLane ? 0 : lateShare(of: code, lossRate: rate, weights: weights)
            if messageLane && residual + late < (leastStalled?.share ?? .infinity) * 0.999 { leastStalled = (index, residual + late) }
            if residual > settings.targetResidual {
                if residual < lowest.residual * 0.999 { lowest = (index, residual) }
                continue
            }
            if late > Self.lateShareLimit {
                if late < (fastest?.late ?? .infinity) * 0.999 { fastest = (index, late) }
                if lenient == nil && late <= Self.lateShareLimit * Self.holdBand { lenient = index }
                continue
            }
            let cost = Self.sentOverhead(of: code, framesPerSecond: framesPerSecond)
            cheapest = min(cheapest, cost)
            candidates.append((index, cost, code.c, late, code.c > 1 ? code.interleaves[1] : 0))
        }
        guard !candidates.isEmpty else {
            // A message lane with no code both complete and quick enough (1 % loss at 1,000 frames a
            // second within `max-overhead`): a packet rebuilt late and one never rebuilt both stall
            // the stream, so the fewest of both. Elsewhere the residual comes first.
            if messageLane, let least = leastStalled { return least.index }
            return lenient ?? fastest?.index ?? lowest.index
        }
        let limit = cheapest * (1 + Self.tieTolerance) + 1e-9
        let pick = candidates.filter { $0.cost <= limit }.min {
            if $0.layers != $1.layers { return $0.layers > $1.layers }
            if abs($0.cost - $1.cost) > 1e-9 { return $0.cost < $1.cost }
            if abs($0.late - $1.late) > 1e-12 { return $0.late < $1.late }
            // A slow lane pays the same for every r: the largest is the cheapest once it speeds up.
            if $0.index != $1.index && ladder[$0.index].nominalOverhead != ladder[$1.index].nominalOverhead {
                return ladder[$0.index].nominalOverhead < ladder[$1.index].nominalOverhead
            }
            if $0.second != $1.second { return $0.second < $1.second }
            return $0.index < $1.index
        }
        return pick?.index ?? candidates[0].index
    }

    /// Takes a report received at `now`; returns the code to switch to, or nil to keep the current
    /// one. `dataFramesSent`, when given, is how many data frames this lane has sent the peer so far:
    /// a report that judged far fewer than that (the peer leaves frames that crossed a full queue
    /// out of its windows) says the path is congested rather than nothing. `roundTripNanoseconds`
    /// is the path's round trip as last measured (the recovery budget may follow it).
    public mutating func consider(
        _ report: LossReportFrame, now: UInt64, dataFramesSent: UInt64? = nil, roundTripNanoseconds: UInt64? = nil
    ) -> FECParameters? {
        guard settings.mode == .adaptive else { return nil }
        if let roundTrip = roundTripNanoseconds { self.roundTripNanoseconds = roundTrip }
        let sending = observeSending(report, now: now, dataFramesSent: dataFramesSent)
        judgement = ReportJudgement(shortExpected: report.short.expected, congested: sending == .mostlyUnjudged)
        // A lane that sent nothing since the last report has gone idle: its code waits for the next
        // flow, judged at that flow's rate. Judged at a rate falling to nothing, a bulk lane became
        // a message lane as its transfer ended and took 16 [1, 16] (0.125), which the next transfer
        // on the lane then started with (the bed's logs, docs/TUNING.md §4).
        guard sending != .idle else {
            judgement.verdict = .idle
            return nil
        }
        if report.shortSpan == .sincePreviousReport { return considerOnset(report.short) }
        let congested = sending == .mostlyUnjudged
        var window = Self.judgedWindow(report)
        judgement.window = window
        guard window.expected >= Self.minimumSample / 4, window.lossRate <= Self.implausibleLossRate else {
            judgement.verdict = .unjudged
            return congested ? stepDownInCongestion(now: now) : nil
        }
        // A congested path whose last second the peer judged too little of: the window judged is
        // the long one, which holds the seconds before the queue filled and nothing newer.
        let judgedOnlyThePast = congested && report.short.expected < Self.minimumSample
        if !judgedOnlyThePast { congestedSince = nil }
        // A report is the peer's word, authenticated but not trusted to be consistent.
        window.lost = min(window.lost, window.expected)
        window.unrecovered = min(window.unrecovered, window.expected)
        judged = window
        defer { judged = nil }
        decide(window)
        let currentIndex = ladder.firstIndex(of: current) ?? ladder.count - 1
        // The long window stands in for a short one too thin to judge (a slow link), but it also
        // holds loss from seconds ago: when traffic pauses, the short window is empty and old loss
        // must not raise the code. Up on the long window only while the short one still loses.
        let stale = report.short.expected < Self.minimumSample && report.short.lost == 0
        // The configured code a lane starts with is a precaution, not a measured need: the first
        // window judged clean enough takes it down at once, not after `stepDownAfter`.
        let firstEvidence = evidence == nil  // also after `adopt`: the lane's own first window
        if !stale { evidence = window }
        judgement.stale = stale
        if !stale && !qualifies(current, for: window, band: Self.holdBand) {
            // Up at once: the code in use is predicted to leave too much, or to rebuild too late.
            lowerNeed = nil
            judgement.verdict = .raised
            return move(to: need(for: window))
        }
        // Stepping down with a margin waits for clearly lower loss, which a window that no
        // longer moves never shows: on the bed (Reno, 100 Mbit/s, 0.1 %), a lane that first judged
        // 0.145 % held 33 [1, 33] (0.06 overhead) for 13 s of a standing queue, and the transfer
        // kept 0.87 of the loss-free goodput where 62 [1, 62] kept 0.91.
        // Except for the lane's first window: the code it replaces (the configured one, or one
        // taken from another lane without this lane's rate) was a guess, not a judgement. On the
        // bed a transfer whose queue filled before its first window kept the 62 [1, 62] it took
        // from the warm-up's lane (0.05 at its rate) for 9 s, where its window needed 0.033.
        if judgedOnlyThePast && !(firstEvidence && !stale) {
            judgement.verdict = .judgedOnlyThePast
            return stepDownInCongestion(now: now)
        }
        let down = need(for: window, margin: Self.stepDownMargin(for: window))
        judgement.verdict = .kept
        // Down: clearly cheaper. Aside: more layers for about the same cost (a lane that first
        // judged at a slow start's rate keeps a single layer the clean link's floor outdoes).
        let cheaper = cost(ladder[down]) * (1 + Self.tieTolerance) < cost(ladder[currentIndex])
        let stronger = ladder[down].c > current.c && cost(ladder[down]) <= cost(ladder[currentIndex]) * (1 + Self.tieTolerance) + 1e-9
        guard cheaper || stronger else {
            lowerNeed = nil
            return nil
        }
        judgement.verdict = .steppedDown
        if firstEvidence && !stale { return move(to: down) }
        if let seen = lowerNeed {
            if cost(ladder[down]) > cost(ladder[seen]) { lowerNeed = down }
        } else {
            lowerNeed = down
            lowerSince = now
        }
        guard now >= lowerSince, now - lowerSince >= settings.stepDownAfterNanoseconds, let target = lowerNeed else {
            judgement.verdict = .waitingToStepDown(to: ladder[lowerNeed ?? down], sinceNanoseconds: now &- lowerSince)
            return nil
        }
        lowerNeed = nil
        return move(to: target)
    }

    /// The fewest bursts an early report's slice must hold to be acted on (the receiver sends one
    /// only after `PeerSession.earlyReportBursts` new bursts, 8).
    public static let onsetMinimumBursts: UInt64 = 4

    /// Judges an early report's slice (what the peer judged since its previous report, sent because
    /// losses appeared): up only, at once, when the code in use does not qualify for the slice's
    /// loss; never down, and the slice is not kept as evidence (a few dozen milliseconds of traffic).
    ///
    /// Judged by a trailing window instead, the onset of 1 % loss on the bed (Reno, 200 Mbit/s)
    /// read as 0.39 % (the rest of the window was still clean), the code went only to 28 [1, 28],
    /// held there for 0.75 s, and Reno halved its window two or three times: the phase's first
    /// second ran at 63 Mbit/s of 164.
    private mutating func considerOnset(_ slice: LossWindow) -> FECParameters? {
        var slice = slice
        slice.lost = min(slice.lost, slice.expected)
        slice.unrecovered = min(slice.unrecovered, slice.expected)
        judgement.window = slice
        judgement.onset = true
        guard slice.expected >= Self.minimumSample / 4, slice.bursts.total >= Self.onsetMinimumBursts,
            slice.lossRate <= Self.implausibleLossRate
        else {
            judgement.verdict = .unjudged
            return nil
        }
        guard !qualifies(current, for: slice, band: Self.holdBand) else {
            judgement.verdict = .kept
            return nil
        }
        judged = slice
        defer { judged = nil }
        decide(slice)
        lowerNeed = nil
        judgement.verdict = .raised
        return move(to: need(for: slice))
    }

    /// The last window this lane judged outside congestion (nil before one), with its bulk rate:
    /// what its path loses, for the gateway's other lanes to the same peer (`adopt`).
    public var pathEvidence: PathEvidence? {
        evidence.map { PathEvidence(window: $0, framesPerSecond: rateMeasured && !isMessageLane ? framesPerSecond : nil) }
    }

    /// Whether `adopt` would take another lane's window: adaptive, and nothing judged or taken yet.
    public var takesPathEvidence: Bool { settings.mode == .adaptive && evidence == nil && borrowed == nil }

    /// Takes `evidence.window`, judged by another lane sending to the same peer, while this lane has
    /// judged nothing of its own; returns the code to switch to, or nil. The loss is the path's, not the
    /// lane's, so the configured code a lane starts with need not wait for the lane's own first
    /// report: on the bed (Reno, 100 Mbit/s, 0.1 %), a transfer that started on a lane other than
    /// the warm-up's ran 8 [1, 10, 100] (0.375) for its first 2 s and 0.07–0.10 for 3 s more, and
    /// kept 0.87 of the loss-free goodput where one on the warm-up's lane kept 0.91. Taken once,
    /// with the step-down margin as a first window of the lane's own is, and judged at the other
    /// lane's bulk rate (unknown when it had none); the lane's own reports rule after.
    public mutating func adopt(_ evidence: PathEvidence) -> FECParameters? {
        let window = evidence.window
        guard takesPathEvidence, window.expected >= Self.minimumSample / 4, window.lossRate <= Self.implausibleLossRate
        else { return nil }
        borrowed = window
        // Judged as for a lane at the other lane's bulk rate, never at this lane's own: an idle
        // lane's rate (near nothing, a message lane's) says nothing of the flow to come; on the bed
        // an idle lane took 4 [1, 4] (0.5) and the transfer that came next started there. Judged
        // at an unknown rate, a lane may not use the stretched twins, and took 62 [1, 62] (0.05 at
        // the transfer's rate) where its sibling ran 62 [1, 62]@7.5ms (0.033).
        let (rate, messageLane) = (framesPerSecond, isMessageLane)
        (framesPerSecond, isMessageLane) = (evidence.framesPerSecond, false)
        defer { (framesPerSecond, isMessageLane) = (rate, messageLane) }
        judged = window
        defer { judged = nil }
        decide(window)
        let code = move(to: need(for: window, margin: Self.stepDownMargin(for: window)))
        decision.basis = .otherLane
        return code
    }

    /// The window a report is judged by: the long one (10 s), whose bursts are numerous enough for a
    /// steady estimate of the rate and of the burst lengths, unless the short one (1 s) departs from
    /// the rest of the long one by more than three standard deviations in its count of bursts (loss
    /// appeared, stopped or changed): then the short one, which is the present. A short window too
    /// thin to judge also leaves the long one.
    ///
    /// Judged by the short window alone, a 0.25 % Gilbert–Elliott loss (about eight bursts a second
    /// at 17,000 frames a second) showed a burst longer than 16 in one window of five, and the code
    /// switched 15 times in 20 s (`maelstromd simulate --adaptive`).
    public static func judgedWindow(_ report: LossReportFrame) -> LossWindow {
        let short = report.short, long = report.long
        guard short.expected >= minimumSample else { return long }
        var rest = long
        rest.expected = long.expected &- min(long.expected, short.expected)
        rest.lost = long.lost &- min(long.lost, short.lost)
        rest.unrecovered = long.unrecovered &- min(long.unrecovered, short.unrecovered)
        rest.bursts.counts = long.bursts.counts &- pointwiseMin(long.bursts.counts, short.bursts.counts)
        guard rest.expected >= minimumSample else { return short }
        let expectedBursts = Double(rest.bursts.total) / Double(rest.expected) * Double(short.expected)
        guard departs(short.bursts.total, from: expectedBursts) else { return long }
        // A second losing several times what the seconds before it lost, and more than
        // `spikeLossRate`: a full queue the congestion marks missed (a slow start overshooting it),
        // judged by the seconds before it. Loss that stays is judged once the long window holds it.
        if short.lossRate > spikeLossRate && short.lossRate > 3 * rest.lossRate && rest.expected >= minimumSample / 4 { return rest }
        return short
    }

    /// Whether a count of `observed` bursts is unlikely (below 1e-3, about three standard
    /// deviations) under a Poisson law of mean `mean`, in either direction. Exact for small means,
    /// where "no burst in a second" against eight expected (p = 3e-4) is a clear change that a
    /// normal approximation would miss; normal with continuity correction above a mean of 50.
    static func departs(_ observed: UInt64, from mean: Double) -> Bool {
        let alpha = 1e-3
        let k = Double(observed)
        if mean <= 0 { return observed > 2 }
        if mean > 50 {
            let sigma = mean.squareRoot()
            return k > mean + 0.5 + 3.1 * sigma || k < mean - 0.5 - 3.1 * sigma
        }
        // Cumulative P(X ≤ k) and P(X ≥ k) by summing the probabilities term by term.
        var term = exp(-mean)
        var below = 0.0
        var index = 0.0
        while index < k && index < 1000 {
            below += term
            index += 1
            term *= mean / index
        }
        let atMost = below + term  // P(X ≤ k)
        let atLeast = 1 - below  // P(X ≥ k)
        return atMost < alpha || atLeast < alpha
    }

    /// Whether `code` is predicted to meet the target for `window`'s loss and to rebuild late no
    /// more than `lateShareLimit` (what makes a code one `need` may pick).
    /// `band` widens both bounds (see `holdBand`).
    public func qualifies(_ code: FECParameters, for window: LossWindow, band: Double = 1) -> Bool {
        guard allowsStretch(code) else { return false }
        let rate = min(1, window.lossRate)
        guard rate > 0 else { return true }
        let weights = ResidualModel.burstWeights(window)
        return ResidualModel.residual(of: modelled(code), lossRate: rate, weights: weights) * Self.modelMargin <= settings.targetResidual * band
            && lateShare(of: code, lossRate: rate, weights: weights) <= Self.lateShareLimit * band
    }

    /// What `code` sends at this lane's rate (`sentOverhead`).
    private func cost(_ code: FECParameters) -> Double { Self.sentOverhead(of: code, framesPerSecond: framesPerSecond) }

    /// What this lane's sending says next to a report.
    private enum Sending {
        /// Sending (or its count not known), the peer judging enough of it.
        case judged
        /// Sending, the peer judging less than a quarter of it: a full queue on the path.
        case mostlyUnjudged
        /// Nothing sent since the previous report, the rate measured before.
        case idle
    }

    /// Updates the lane's rate from its count of data frames sent, and says whether the peer judged
    /// less than a quarter of the frames sent over the report's short window (estimated from the
    /// sending rate since the previous report), or whether the lane went idle.
    private mutating func observeSending(_ report: LossReportFrame, now: UInt64, dataFramesSent: UInt64?) -> Sending {
        guard let sent = dataFramesSent else { return .judged }
        defer { sentAtLastReport = (sent, now) }
        guard let last = sentAtLastReport, now > last.at, sent >= last.frames else {
            if !rateMeasured && report.shortMilliseconds > 0 {
                // Before two reports: the rate the peer saw, at most (its window may predate the traffic).
                framesPerSecond = Double(report.short.expected) * 1000 / Double(report.shortMilliseconds)
                classifyLane()
            }
            return .judged
        }
        // Idle: the rate it had is kept for the next flow's first reports to smooth from.
        if rateMeasured && sent == last.frames { return .idle }
        let perNanosecond = Double(sent - last.frames) / Double(now - last.at)
        // Smoothed over about a second of reports: a TCP sawtooth moves the rate by a third. More
        // than twice the smoothed rate is a new flow on a lane that was slow or idle, taken at
        // once: smoothed, a transfer that started on a lane idle since the gateway started (rate 0)
        // was judged as a message lane for its first second and took 12 [1, 12] (0.16) on the bed.
        let instant = perNanosecond * 1e9
        let smoothed = (framesPerSecond ?? 0) * 0.75 + instant * 0.25
        framesPerSecond = rateMeasured && instant <= 2 * (framesPerSecond ?? 0) ? smoothed : instant
        rateMeasured = true
        classifyLane()
        let sentInShortWindow = perNanosecond * Double(report.shortMilliseconds) * 1e6
        let fewJudged = sentInShortWindow >= Double(Self.minimumSample) && Double(report.short.expected) * 4 < sentInShortWindow
        return fewJudged ? .mostlyUnjudged : .judged
    }

    /// A path congested for `stepDownAfter` with no window judged, or only one from before the
    /// queue filled: repairing a full queue's drops only hides congestion from TCP (which then
    /// keeps the queue full, and the repairs take its room), so the code falls to what the last
    /// judged window needed at the least loss it is consistent with (`congestedLossFactor`: no
    /// newer window can confirm it), or to the cheapest code when none was ever judged (the
    /// configured code it starts with was only a precaution). The code still goes up at once if
    /// the judged window asks for it.
    private mutating func stepDownInCongestion(now: UInt64) -> FECParameters? {
        let since = congestedSince ?? now
        congestedSince = since
        judgement.congestedForNanoseconds = now &- since
        guard now >= since, now - since >= settings.stepDownAfterNanoseconds else { return nil }
        let target = (evidence ?? borrowed).map { need(for: $0, margin: Self.congestedLossFactor(for: $0)) } ?? floorIndex
        guard cost(ladder[target]) < cost(current) else { return nil }
        lowerNeed = nil
        let code = move(to: target)
        // With no window judged, the decision records the rate and budget, and no loss.
        if judged == nil { decide(LossWindow()) }
        decision.basis = judged == nil ? .congested : .congestedSinceWindow
        return code
    }

    /// The code a clean link runs: what `need` picks for no loss at all.
    private var floorIndex: Int { need(for: LossWindow(expected: Self.minimumSample, lost: 0, bursts: BurstHistogram(), unrecovered: 0)) }

    private mutating func move(to index: Int) -> FECParameters? {
        let code = ladder[index]
        guard code != current else { return nil }
        current = code
        switches &+= 1
        if let window = judged { decide(window) }
        return code
    }

    // Records what `window` says of the current code.
    private mutating func decide(_ window: LossWindow) {
        let weights = ResidualModel.burstWeights(window)
        decision = CodeDecision(
            lossRate: window.lossRate, meanBurstLength: window.meanBurstLength, framesPerSecond: framesPerSecond,
            recoveryBudgetSeconds: recoveryBudgetSeconds,
            predictedResidual: ResidualModel.residual(of: modelled(current), lossRate: min(1, window.lossRate), weights: weights),
            lateShare: lateShare(of: current, lossRate: min(1, window.lossRate), weights: weights))
    }
}

/// What one lane of a gateway judged of the path to a peer, for its other lanes (`AdaptivePolicy.adopt`).
public struct PathEvidence: Sendable, Equatable {
    /// The last window the lane judged outside congestion.
    public var window: LossWindow
    /// The lane's sending rate in data frames a second, when it was a bulk lane (not a message
    /// lane) with a measured rate; else nil.
    public var framesPerSecond: Double?

    /// Evidence of `window`, judged at `framesPerSecond` (nil: not known, or a message lane's).
    public init(window: LossWindow, framesPerSecond: Double? = nil) {
        self.window = window
        self.framesPerSecond = framesPerSecond
    }
}

/// What the adaptive policy made of one report: what it judged, and why it kept or changed its code.
public struct ReportJudgement: Sendable, Equatable {
    /// The window judged (the long or the short one, `AdaptivePolicy.judgedWindow`); empty when the
    /// report was not judged at all.
    public var window = LossWindow()
    /// Packets the report's short window (1 s) judged.
    public var shortExpected: UInt64 = 0
    /// Whether the peer judged under a quarter of what this lane sent (a full queue on the path).
    public var congested = false
    /// Whether the short window was too thin to judge and lost nothing, so the long window's old
    /// loss could not raise the code.
    public var stale = false
    /// Whether the report was an early one, judged by its slice since the previous report (up only).
    public var onset = false
    /// How long the path has been congested with nothing newer judged, when it was (else nil).
    public var congestedForNanoseconds: UInt64? = nil
    /// What was done.
    public var verdict = Verdict.notJudged

    /// What a report led to.
    public enum Verdict: Sendable, Equatable {
        /// No report yet, or the policy is fixed.
        case notJudged
        /// The lane sent nothing since the report before: the code waits for the next flow.
        case idle
        /// Too few packets judged, or implausibly much loss: not acted on (unless congested).
        case unjudged
        /// Congested, the window judged holding only the seconds before the queue filled: the
        /// code falls to that window's need once congestion has lasted `step-down-after`.
        case judgedOnlyThePast
        /// The code in use was short of the window's need: raised.
        case raised
        /// The code in use fits the window and nothing clearly cheaper does: kept.
        case kept
        /// A clearly cheaper code fits: stepped down (or about to, when the code did not change).
        case steppedDown
        /// A clearly cheaper code fits, and has for this long; the step down waits for `step-down-after`.
        case waitingToStepDown(to: FECParameters, sinceNanoseconds: UInt64)
    }

    /// An empty judgement.
    public init() {}

    /// A judgement of a report whose short window judged `shortExpected` packets.
    public init(shortExpected: UInt64, congested: Bool) {
        self.shortExpected = shortExpected
        self.congested = congested
    }
}

/// What the adaptive policy judged its last report by, and what it predicts of its code.
public struct CodeDecision: Sendable, Equatable {
    /// The loss rate of the window judged.
    public var lossRate: Double = 0
    /// Its mean burst length, in packets.
    public var meanBurstLength: Double = 1
    /// The lane's sending rate the policy assumed, in data frames a second (nil: not known yet).
    public var framesPerSecond: Double? = nil
    /// The recovery budget in seconds (nil: follows a round trip not measured yet).
    public var recoveryBudgetSeconds: Double? = nil
    /// The model's residual for the current code, without the margin.
    public var predictedResidual: Double = 0
    /// The share of packets the current code rebuilds later than the budget.
    public var lateShare: Double = 0
    /// What the decision rests on.
    public var basis = Basis.judged

    /// What a decision rests on.
    public enum Basis: Sendable, Equatable {
        /// A window of this lane's that the peer judged.
        case judged
        /// Nothing: the path was congested (the peer judged too little of what was sent) for the
        /// step-down delay, and the code fell to what the last judged window needed.
        case congested
        /// The path congested, and the only window judged one from before the queue filled.
        case congestedSinceWindow
        /// A window judged on another lane to the same peer, before this lane judged one.
        case otherLane
    }

    /// An empty decision (before the first report).
    public init() {}

    /// Creates a decision from its values.
    public init(
        lossRate: Double, meanBurstLength: Double, framesPerSecond: Double?, recoveryBudgetSeconds: Double?, predictedResidual: Double,
        lateShare: Double
    ) {
        self.lossRate = lossRate
        self.meanBurstLength = meanBurstLength
        self.framesPerSecond = framesPerSecond
        self.recoveryBudgetSeconds = recoveryBudgetSeconds
        self.predictedResidual = predictedResidual
        self.lateShare = lateShare
    }
}
