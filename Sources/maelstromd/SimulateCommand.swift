import ArgumentParser
import Foundation
import MaelstromCore
import MaelstromTun

/// `maelstromd simulate`: the real codec over a simulated lossy link.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the real encoder and decoder over a simulated lossy link and report recovery.")

    @Option(help: "Loss model: none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY or trace:FILE.")
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
        let parameters = try fec.parameters(maxPacketSize: packetSize)
        let report = runSimulation(
            SimulationConfig(
                parameters: parameters, loss: model, packets: packets, packetSize: packetSize,
                packetsPerSecond: ratePPS, seed: seed))
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Self.table(report, parameters: parameters, loss: model))
        }
        if report.deliveryErrors > 0 {
            throw CommandFailure(message: "\(report.deliveryErrors) packets were delivered twice or with wrong bytes", exitCode: 1)
        }
    }

    static func table(_ report: SimulationReport, parameters: FECParameters, loss: LossModel) -> String {
        func percent(_ value: Double) -> String { String(format: "%.4f%%", value * 100) }
        return """
            code            \(parameters)
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
