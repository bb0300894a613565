import ArgumentParser
import Foundation
import MaelstromCore
import MaelstromTun

/// `maelstromd tune`: the code the adaptive policy would pick for a loss model or a trace, and
/// the cost and residual of the alternatives, so an operator can also choose a fixed code.
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Print the code the adaptive policy picks for a loss model (or a trace) and the alternatives' overhead and residual.")

    @Option(help: "Loss model: none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY, trace:FILE or schedule:… (measured as a whole).")
    var loss: String

    @OptionGroup var fec: FECOptions

    @Option(help: "Packets of the model to measure, and to simulate each code over (a trace repeats to fill them).")
    var packets: Int = 1_000_000

    @Option(name: .customLong("rate-pps"), help: "Data packets per second (turns packets into time).")
    var ratePPS: Double = 10_000

    @Option(name: .customLong("rtt-ms"), help: "Round trip between the gateways in milliseconds (the default recovery budget).")
    var rttMs: Double = 50

    @Option(
        name: .customLong("recovery-budget-ms"),
        help: "Rebuilds slower than this many milliseconds count as late (default: the round trip).")
    var recoveryBudgetMs: Double?

    @Option(name: .customLong("target-residual"), help: "The residual loss to aim below.")
    var targetResidual: Double = 1e-6

    @Option(name: .customLong("min-overhead"), help: "The least repair overhead considered.")
    var minOverhead: Double = 0.03

    @Option(name: .customLong("max-overhead"), help: "The most repair overhead considered.")
    var maxOverhead: Double = 0.5

    @Flag(name: .customLong("no-simulate"), help: "Print the model's predictions only, without running the simulator over each code.")
    var noSimulate = false

    @Option(help: "Seed of the loss process.")
    var seed: UInt64 = 1

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    /// One candidate code and what it costs and leaves.
    struct Candidate: Codable {
        var code: String
        var overhead: Double
        var sentOverhead: Double
        var predictedResidual: Double
        var lateShare: Double
        var layersWithinBudget: Int
        var simulatedResidual: Double?
        var picked: Bool
    }

    /// The whole answer.
    struct Answer: Codable {
        var loss: String
        var measuredLossRate: Double
        var meanBurstLength: Double
        var burstHistogram: [String: UInt64]
        var targetResidual: Double
        var ratePPS: Double
        var recoveryBudgetMs: Double
        var picked: String
        /// Whether the pick meets the target and the late limit; when no code does, the policy's
        /// fallback (on a message lane, the code that stalls the fewest packets).
        var pickedMeetsTarget: Bool
        /// Whether the rate makes this a message lane (`AdaptivePolicy.isMessageLane`).
        var messageLane: Bool
        var candidates: [Candidate]
    }

    func run() throws {
        guard packets >= 10_000 && packets <= 100_000_000 else {
            throw CommandFailure.badInput("--packets must be between 10000 and 100000000, got \(packets)")
        }
        guard ratePPS.isFinite && ratePPS >= 1 && ratePPS <= 1e9 else {
            throw CommandFailure.badInput("--rate-pps must be between 1 and 1000000000, got \(ratePPS)")
        }
        guard targetResidual > 0, targetResidual < 1 else {
            throw CommandFailure.badInput("--target-residual must be above 0 and below 1, got \(targetResidual)")
        }
        guard rttMs.isFinite && rttMs > 0 && rttMs <= 10_000, (recoveryBudgetMs ?? 1).isFinite, (recoveryBudgetMs ?? 1) >= 1, (recoveryBudgetMs ?? 1) <= 10_000 else {
            throw CommandFailure.badInput("--rtt-ms must be above 0 and --recovery-budget-ms between 1 and 10000 (milliseconds)")
        }
        guard minOverhead > 0, maxOverhead <= 1, minOverhead <= maxOverhead else {
            throw CommandFailure.badInput("--min-overhead and --max-overhead must satisfy 0 < min ≤ max ≤ 1")
        }
        let model: LossModel
        do {
            model = try LossModel.parseReadingTraceFiles(loss)
        } catch {
            throw CommandFailure.badInput(error.message)
        }
        let bound = try fec.parameters(maxPacketSize: 1400)
        let window = Self.measure(model, packets: packets, ratePPS: ratePPS, seed: seed)
        let budget: RecoveryBudget = recoveryBudgetMs.map { .fixed(nanoseconds: UInt64($0 * 1e6)) } ?? .roundTrip
        let settings = AdaptationSettings(
            mode: .adaptive, targetResidual: targetResidual, minOverhead: minOverhead, maxOverhead: maxOverhead, recoveryBudget: budget)
        var policy = AdaptivePolicy(settings: settings, bound: bound)
        policy.assume(framesPerSecond: ratePPS, roundTripNanoseconds: UInt64(rttMs * 1e6))
        let pick = policy.need(for: window)
        let weights = ResidualModel.burstWeights(window)
        let picked = policy.ladder[pick]
        // Stretched twins only at the rates where the policy may use them.
        var codes = policy.ladder.filter { policy.allowsStretch($0) }
        if !codes.contains(bound) { codes.append(bound) }
        var candidates: [Candidate] = []
        for code in codes {
            var simulated: Double?
            if !noSimulate {
                simulated = runSimulation(
                    SimulationConfig(parameters: code, loss: model, packets: packets, packetSize: 200, packetsPerSecond: ratePPS, seed: seed &+ 1)
                ).residualLoss
            }
            candidates.append(
                Candidate(
                    code: CodeLadder.label(of: code, bound: bound), overhead: Double(code.interleaves.count) / Double(code.r),
                    sentOverhead: AdaptivePolicy.sentOverhead(of: code, framesPerSecond: ratePPS),
                    predictedResidual: policy.residual(of: code, for: window),
                    lateShare: policy.lateShare(of: code, lossRate: window.lossRate, weights: weights),
                    layersWithinBudget: policy.fastLayers(of: code), simulatedResidual: simulated,
                    picked: code == picked))
        }
        var histogram: [String: UInt64] = [:]
        for bucket in 0..<BurstHistogram.bucketCount where window.bursts.counts[bucket] > 0 {
            let low = BurstHistogram.lowerLength(ofBucket: bucket)
            let high = BurstHistogram.upperLength(ofBucket: bucket)
            histogram[low == high ? "\(low)" : "\(low)-\(high)"] = UInt64(window.bursts.counts[bucket])
        }
        let answer = Answer(
            loss: model.description, measuredLossRate: window.lossRate, meanBurstLength: window.meanBurstLength,
            burstHistogram: histogram, targetResidual: targetResidual, ratePPS: ratePPS,
            recoveryBudgetMs: (policy.recoveryBudgetSeconds ?? 0) * 1000, picked: CodeLadder.label(of: picked, bound: bound),
            pickedMeetsTarget: policy.qualifies(picked, for: window), messageLane: policy.isMessageLane, candidates: candidates)
        if json {
            try CommandOutput.printJSON(answer)
        } else {
            print(Self.table(answer, bound: bound))
        }
    }

    /// The loss the receiver's meter would see over `packets` packets of `model`.
    static func measure(_ model: LossModel, packets: Int, ratePPS: Double, seed: UInt64) -> LossWindow {
        let meter = LossMeter()
        var process = LossProcess(model: model, seed: seed)
        let interval = 1e9 / ratePPS
        var time: UInt64 = 0
        for index in 0..<packets {
            time = UInt64(Double(index) * interval)
            if !process.nextIsLost(at: time) { meter.record(UInt32(truncatingIfNeeded: index), now: time) }
        }
        // The meter judges a packet once the horizon has passed it: close the books.
        for index in packets..<(packets + Int(LossMeter.horizon) + 1) {
            meter.record(UInt32(truncatingIfNeeded: index), now: time)
        }
        var window = meter.total
        window.expected -= min(window.expected, LossMeter.horizon + 1)
        return window
    }

    static func table(_ answer: Answer, bound: FECParameters) -> String {
        func pad(_ text: String, _ width: Int) -> String { CommandOutput.column(text, width) }
        var lines = [
            "loss model      \(answer.loss)",
            String(format: "measured        loss %.4f%%, mean burst %.2f packets", answer.measuredLossRate * 100, answer.meanBurstLength),
            "bursts          " + answer.burstHistogram.sorted { (UInt64($0.key.split(separator: "-")[0]) ?? 0) < (UInt64($1.key.split(separator: "-")[0]) ?? 0) }
                .map { "\($0.key): \($0.value)" }.joined(separator: ", "),
            "policy picks    \(answer.picked) \(answer.pickedMeetsTarget ? "for" : "as no code meets") a residual below \(answer.targetResidual) (model × \(AdaptivePolicy.modelMargin) margin)"
                + String(format: " and at most %.0e rebuilt later than %.1f ms, at %.0f packets/s", AdaptivePolicy.lateShareLimit, answer.recoveryBudgetMs, answer.ratePPS)
                + (answer.pickedMeetsTarget ? "" : answer.messageLane ? ": the one stalling the fewest packets, late or lost (a message lane)" : ": the closest")
                + (answer.messageLane && answer.pickedMeetsTarget ? " (a message lane)" : ""),
            "",
            pad("code", 22) + pad("overhead", 10) + pad("sent", 8) + pad("model residual", 16) + pad("late", 10) + pad("fast layers", 13)
                + "simulated residual",
        ]
        for candidate in answer.candidates {
            let simulated = candidate.simulatedResidual.map { String(format: "%.1e", $0) } ?? "-"
            let mark = candidate.picked ? "  <- picked" : (candidate.code == bound.shortDescription ? "  (configured)" : "")
            let layers = candidate.code.split(separator: ",").count
            lines.append(
                pad(candidate.code, 22) + pad(String(format: "%.3f", candidate.overhead), 10) + pad(String(format: "%.3f", candidate.sentOverhead), 8)
                    + pad(String(format: "%.1e", candidate.predictedResidual), 16) + pad(String(format: "%.1e", candidate.lateShare), 10)
                    + pad("\(candidate.layersWithinBudget)/\(layers)", 13) + simulated + mark)
        }
        return lines.joined(separator: "\n")
    }
}
