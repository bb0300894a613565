import ArgumentParser
import Foundation
import MaelstromCore
import MaelstromTun

/// The link's impairments as command-line options, shared by the emulator and its benchmark.
struct LinkOptions: ParsableArguments {
    @Option(name: .customLong("delay-ms"), help: "One-way delay in milliseconds.")
    var delayMs: Double?

    @Option(name: .customLong("jitter-ms"), help: "Uniform jitter half-width in milliseconds (delay ± J).")
    var jitterMs: Double = 0

    @Option(name: .customLong("rate-mbit"), help: "Bottleneck rate in Mbit/s (0: unlimited; default: unlimited, 1000 for bench).")
    var rateMbit: Double?

    @Option(name: .customLong("queue-bytes"), help: "Drop-tail queue in front of the rate limiter, in bytes.")
    var queueBytes: UInt64 = 1_000_000

    @Option(help: "Loss model: none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY or trace:FILE.")
    var loss: String = "none"

    @Option(help: "Seed of the loss process and the jitter.")
    var seed: UInt64 = 1

    @Flag(help: "Let jitter reorder packets (without it departures keep arrival order).")
    var reorder = false

    /// The validated link configuration; throws a one-line `EmulatorFailure` naming the bad option.
    ///
    /// Without `defaultDelayMs`, `--delay-ms` is required: an emulated WAN with no delay is usually a mistake.
    func configuration(defaultDelayMs: Double? = nil, defaultRateMbit: Double = 0) throws(EmulatorFailure) -> WANLinkConfiguration {
        guard let delayMs = delayMs ?? defaultDelayMs else { throw .badInput("missing --delay-ms (use --delay-ms 0 for none)") }
        let rateMbit = rateMbit ?? defaultRateMbit
        let delay = try Self.nanoseconds(delayMs, option: "--delay-ms")
        let jitter = try Self.nanoseconds(jitterMs, option: "--jitter-ms")
        guard rateMbit.isFinite, rateMbit >= 0, rateMbit <= 1_000_000 else {
            throw .badInput("--rate-mbit must be between 0 and 1000000, got \(rateMbit)")
        }
        let rate = UInt64((rateMbit * 1_000_000).rounded())
        guard rate == 0 || rate >= 1_000 else {
            throw .badInput("--rate-mbit must be 0 (unlimited) or at least 0.001, got \(rateMbit)")
        }
        let model: LossModel
        do {
            model = try LossModel.parseReadingTraceFiles(loss)
        } catch {
            throw .badInput(error.message)
        }
        let configuration = WANLinkConfiguration(
            delayNanoseconds: delay, jitterNanoseconds: jitter, rateBitsPerSecond: rate, queueBytes: queueBytes,
            loss: model, seed: seed, allowReorder: reorder)
        do {
            try configuration.validate()
        } catch {
            throw .badInput(error.message)
        }
        return configuration
    }

    private static func nanoseconds(_ milliseconds: Double, option: String) throws(EmulatorFailure) -> UInt64 {
        let limit = Double(WANLinkConfiguration.maxDelayNanoseconds) / 1_000_000
        guard milliseconds.isFinite, milliseconds >= 0, milliseconds <= limit else {
            throw .badInput("\(option) must be between 0 and \(Int(limit)), got \(milliseconds)")
        }
        return UInt64((milliseconds * 1_000_000).rounded())
    }
}
