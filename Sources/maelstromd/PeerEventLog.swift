import NIOConcurrencyHelpers
import Logging
import MaelstromCore

/// Turns the lanes' peer events into the operator's: a peer is up while any lane hears it, so
/// "up" is logged when the first lane hears it and "down" when the last one stops.
final class PeerEventLog: Sendable {
    private let peerNames: [String]
    private let logger: Logger
    private let lanesUp: NIOLockedValueBox<[Set<LaneID>]>

    init(peerNames: [String], logger: Logger) {
        self.peerNames = peerNames
        self.logger = logger
        lanesUp = NIOLockedValueBox(Array(repeating: [], count: peerNames.count))
    }

    /// Records an event of lane `lane` (called on that lane's thread: about once a second at most,
    /// a few times a second per peer with report judgements at the debug level).
    func record(_ event: GatewayEvent, lane: LaneID) {
        switch event {
        case .peerUp(let peer):
            let first = lanesUp.withLockedValue { $0[peer.index].insert(lane).inserted && $0[peer.index].count == 1 }
            if first { logger.notice("peer \(peerNames[peer.index]) is up") }
        case .peerDown(let peer):
            let last = lanesUp.withLockedValue { $0[peer.index].remove(lane) != nil && $0[peer.index].isEmpty }
            if last { logger.notice("peer \(peerNames[peer.index]) is down: nothing heard within the peer timeout") }
        case .peerRestarted(let peer, let remoteLane):
            logger.notice("peer \(peerNames[peer.index]) restarted: decoding the new stream of its \(remoteLane)")
        case .codeChanged(let peer, let code, let decision):
            // Info, not notice: adaptive FEC changes codes as loss comes and goes, which is normal.
            let rate = decision.framesPerSecond.map { String(format: "%.0f frames/s", $0) } ?? "rate not known yet"
            let budget = decision.recoveryBudgetSeconds.map { String(format: "budget %.1f ms", $0 * 1000) } ?? "budget not known yet"
            let loss = String(format: "%.4f%% loss, mean burst %.1f", decision.lossRate * 100, decision.meanBurstLength)
            let judged: String
            switch decision.basis {
            case .judged: judged = "judged \(loss)"
            case .congested: judged = "path congested, too little judged"
            case .congestedSinceWindow: judged = "path congested, judged by the last window before the queue filled: \(loss)"
            case .otherLane: judged = "judged on another lane to this peer: \(loss)"
            }
            logger.info(
                "fec code for peer \(peerNames[peer.index]) on \(lane): \(Self.describe(code)) overhead \(Int((code.nominalOverhead * 1000).rounded()) / 10)% (\(judged), \(rate), \(budget); predicted residual \(String(format: "%.1e", decision.predictedResidual)), late \(String(format: "%.1e", decision.lateShare)))")
        case .reportJudged(let peer, let judgement, let code):
            logger.debug("loss report of peer \(peerNames[peer.index]) on \(lane): \(Self.describe(judgement)); code \(Self.describe(code))")
        }
    }

    private static func describe(_ code: FECParameters) -> String {
        "r=\(code.r) interleaves=\(code.interleaves.map(String.init).joined(separator: ",")) flush=\(Double(code.flushAfterNanoseconds) / 1e6)ms"
    }

    // One report's judgement, for the debug log: what was judged and why the code stayed or moved.
    private static func describe(_ judgement: ReportJudgement) -> String {
        let window = judgement.window
        var text = String(
            format: "judged %llu packets (short window %llu), %.4f%% loss in %llu bursts", window.expected, judgement.shortExpected,
            window.lossRate * 100, window.bursts.total)
        if judgement.onset { text += ", early report (since the previous one: up only)" }
        if judgement.stale { text += ", stale" }
        if judgement.congested { text += ", congested" }
        if let congested = judgement.congestedForNanoseconds { text += String(format: " for %.2f s", Double(congested) / 1e9) }
        switch judgement.verdict {
        case .notJudged: text += ": not judged"
        case .idle: text = "lane idle: not judged"
        case .unjudged: text += ": too little or implausible, not acted on"
        case .judgedOnlyThePast: text += ": only the seconds before the queue filled"
        case .raised: text += ": raised"
        case .kept: text += ": kept"
        case .steppedDown: text += ": stepped down"
        case .waitingToStepDown(let target, let since):
            text += String(format: ": waiting %.2f s to step down to ", Double(since) / 1e9) + describe(target)
        }
        return text
    }
}
