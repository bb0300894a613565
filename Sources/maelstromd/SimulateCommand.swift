import ArgumentParser
import Foundation
import MaelstromCore
import MaelstromTun

/// `maelstromd simulate`: the real codec over a simulated lossy link.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the real encoder and decoder over a simulated lossy link and report recovery.")

    @Option(help: "Loss model: none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY, trace:FILE or schedule:20s=MODEL,20s=MODEL,… (time from the start; the last phase holds).")
    var loss: String = "none"

    @OptionGroup var fec: FECOptions

    @Option(help: "Data packets to send.")
    var packets: Int = 100_000

    @Option(name: .customLong("packet-size"), help: "Bytes per data packet.")
    var packetSize: Int = 1400

    @Option(name: .customLong("rate-pps"), help: "Data packets per second (turns packets into time).")
    var ratePPS: Double = 10_000

    @Option(help: "Seed of the loss process.")
    var seed: UInt64 = 1

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Run two whole gateways with the adaptive policy (the code options are its bound) and report each phase of the loss schedule.")
    var adaptive = false

    @Option(help: "Simulate an ideal Reed-Solomon-like block code of K data and H parity packets a block (K,H; any K of the K+H frames rebuild the block) instead of the layered code, whose options it replaces.")
    var block: String?

    @Option(help: "With --adaptive: seconds to run (default: the schedule's length, else 20).")
    var seconds: Double?

    @Option(name: .customLong("delay-ms"), help: "With --adaptive: one-way delay in milliseconds.")
    var delayMilliseconds: Double = 25

    @Option(name: .customLong("target-residual"), help: "With --adaptive: the residual loss the policy aims below.")
    var targetResidual: Double = 1e-6

    func run() throws {
        guard packets >= 1 && packets <= 1_000_000_000 else {
            throw CommandFailure.badInput("--packets must be between 1 and 1000000000, got \(packets)")
        }
        guard packetSize >= 1 && packetSize <= FECParameters.maxPacketSizeLimit else {
            throw CommandFailure.badInput("--packet-size must be between 1 and \(FECParameters.maxPacketSizeLimit), got \(packetSize)")
        }
        // At least one packet a second, so that packet times (at most 10⁹ packets) fit in 64-bit nanoseconds.
        guard ratePPS.isFinite && ratePPS >= 1 && ratePPS <= 1e9 else {
            throw CommandFailure.badInput("--rate-pps must be between 1 and 1000000000, got \(ratePPS)")
        }
        let model: LossModel
        do {
            model = try LossModel.parseReadingTraceFiles(loss)
        } catch {
            throw CommandFailure.badInput(error.message)
        }
        if let block {
            guard !adaptive else { throw CommandFailure.badInput("--block and --adaptive cannot be combined") }
            try runBlock(text: block, model: model)
            return
        }
        let parameters = try fec.parameters(maxPacketSize: packetSize)
        if adaptive {
            try runAdaptive(model: model, bound: parameters)
            return
        }
        let report = runSimulation(
            SimulationConfig(
                parameters: parameters, loss: model, packets: packets, packetSize: packetSize,
                packetsPerSecond: ratePPS, seed: seed))
        if json {
            try CommandOutput.printJSON(report)
        } else {
            print(Self.table(report, code: "\(parameters)", loss: model))
        }
        if report.deliveryErrors > 0 {
            throw CommandFailure(message: "\(report.deliveryErrors) packets were delivered twice or with wrong bytes", exitCode: 1)
        }
    }

    private func runBlock(text: String, model: LossModel) throws {
        let code: BlockCode
        do {
            code = try BlockCode.parse(text)
        } catch {
            throw CommandFailure.badInput("--block: \(error.message)")
        }
        let report = runBlockCodeSimulation(
            BlockCodeSimulationConfig(code: code, loss: model, packets: packets, packetsPerSecond: ratePPS, seed: seed))
        if json {
            try CommandOutput.printJSON(report)
        } else {
            print(Self.table(report, code: code.description, loss: model))
        }
    }

    private func runAdaptive(model: LossModel, bound: FECParameters) throws {
        var scheduled: UInt64 = 0
        if case .schedule(let phases) = model { scheduled = phases.reduce(0) { $0 + $1.durationNanoseconds } }
        let length = seconds ?? (scheduled > 0 ? Double(scheduled) / 1e9 : 20)
        guard length.isFinite, length > 0, length <= 3600 else {
            throw CommandFailure.badInput("--seconds must be above 0 and at most 3600, got \(length)")
        }
        guard packetSize >= 36 else { throw CommandFailure.badInput("--adaptive needs --packet-size of at least 36") }
        guard length * ratePPS <= 100_000_000 else {
            throw CommandFailure.badInput("--adaptive runs at most 100000000 packets (--seconds × --rate-pps)")
        }
        guard delayMilliseconds.isFinite, delayMilliseconds >= 0, delayMilliseconds <= 10_000 else {
            throw CommandFailure.badInput("--delay-ms must be between 0 and 10000, got \(delayMilliseconds)")
        }
        guard targetResidual > 0, targetResidual < 1 else {
            throw CommandFailure.badInput("--target-residual must be above 0 and below 1, got \(targetResidual)")
        }
        let report = runAdaptiveSimulation(
            AdaptiveSimulationConfig(
                code: bound, adaptation: AdaptationSettings(mode: .adaptive, targetResidual: targetResidual), loss: model,
                durationNanoseconds: UInt64(length * 1e9), packetSize: packetSize, packetsPerSecond: ratePPS,
                oneWayDelayNanoseconds: UInt64(delayMilliseconds * 1e6), seed: seed))
        if json {
            try CommandOutput.printJSON(report)
        } else {
            print(Self.adaptiveTable(report, targetResidual: targetResidual))
        }
        if report.deliveryErrors > 0 {
            throw CommandFailure(message: "\(report.deliveryErrors) packets were delivered twice or with wrong bytes", exitCode: 1)
        }
    }

    static func adaptiveTable(_ report: AdaptiveSimulationReport, targetResidual: Double) -> String {
        func pad(_ text: String, _ width: Int) -> String { CommandOutput.column(text, width) }
        var lines = [
            pad("phase", 6) + pad("seconds", 14) + pad("loss", 26) + pad("measured", 10) + pad("overhead", 10) + pad("residual", 10)
                + pad("steady overhead", 17) + pad("steady residual", 17) + pad("code at end", 26) + "switches"
        ]
        for (index, phase) in report.phases.enumerated() {
            let steadyMark = phase.steadyResidualLoss <= targetResidual ? "" : " !"
            lines.append(
                pad("\(index + 1)", 6) + pad(String(format: "%.1f-%.1f", phase.startSeconds, phase.endSeconds), 14) + pad(phase.loss, 26)
                    + pad(String(format: "%.4f%%", phase.measuredLoss * 100), 10) + pad(String(format: "%.3f", phase.overhead), 10)
                    + pad(String(format: "%.1e", phase.residualLoss), 10) + pad(String(format: "%.3f", phase.steadyOverhead), 17)
                    + pad(String(format: "%.1e", phase.steadyResidualLoss) + steadyMark, 17) + pad(phase.codeAtEnd, 26) + "\(phase.codeSwitches)")
        }
        lines.append("loss reports received: \(report.lossReports); '!' marks a steady residual above the target \(targetResidual)")
        return lines.joined(separator: "\n")
    }

    static func table(_ report: SimulationReport, code: String, loss: LossModel) -> String {
        func percent(_ value: Double) -> String { String(format: "%.4f%%", value * 100) }
        return """
            code            \(code)
            loss model      \(loss) (expected \(percent(loss.expectedLossRate)))
            data packets    \(report.dataPackets)
            repair packets  \(report.repairPackets) (overhead \(String(format: "%.3f", report.overhead)))
            lost data       \(report.lostData) (+ \(report.lostRepairs) repairs)
            recovered       \(report.recovered)
            unrecovered     \(report.unrecovered) (residual loss \(String(format: "%.2e", report.residualLoss)))
            latency packets p50 \(report.recoveryLatencyPackets.p50)  p99 \(report.recoveryLatencyPackets.p99)  max \(report.recoveryLatencyPackets.max)
            latency ms      p50 \(String(format: "%.3f", report.recoveryLatencyMs.p50))  p99 \(String(format: "%.3f", report.recoveryLatencyMs.p99))  max \(String(format: "%.3f", report.recoveryLatencyMs.max))
            """
    }
}
