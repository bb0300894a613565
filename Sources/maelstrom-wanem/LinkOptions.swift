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

    @Option(help: "Loss model: none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY, trace:FILE or schedule:20s=MODEL,20s=MODEL,… (time from the start; the last phase holds).")
    var loss: String = "none"

    @Option(help: "Seed of the loss process and the jitter.")
    var seed: UInt64 = 1

    @Flag(help: "Let jitter reorder packets (without it departures keep arrival order).")
    var reorder = false

    @Option(help: "Probability that a packet is delivered twice.")
    var duplicate: Double = 0

    @Option(name: .customLong("reorder-probability"), help: "Probability that a packet is held back so later ones overtake it.")
    var reorderProbability: Double = 0

    @Option(name: .customLong("reorder-delay-ms"), help: "Largest extra delay of a held-back packet, in milliseconds.")
    var reorderDelayMs: Double = 0

    @Option(help: "An outage, START+DURATION in seconds after the emulator starts (e.g. 20+5); repeatable.")
    var outage: [String] = []

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
        guard duplicate.isFinite, duplicate >= 0, duplicate <= 1 else {
            throw .badInput("--duplicate must be a probability between 0 and 1, got \(duplicate)")
        }
        guard reorderProbability.isFinite, reorderProbability >= 0, reorderProbability <= 1 else {
            throw .badInput("--reorder-probability must be a probability between 0 and 1, got \(reorderProbability)")
        }
        let reorderDelay = try Self.nanoseconds(reorderDelayMs, option: "--reorder-delay-ms")
        guard reorderProbability == 0 || reorderDelay > 0 else {
            throw .badInput("--reorder-probability needs --reorder-delay-ms above 0")
        }
        var outages: [WANOutage] = []
        for text in outage {
            guard let parsed = WANOutage(text: text) else {
                throw .badInput("--outage must be START+DURATION in seconds (a duration above 0, within a week), got '\(text)'")
            }
            outages.append(parsed)
        }
        let configuration = WANLinkConfiguration(
            delayNanoseconds: delay, jitterNanoseconds: jitter, rateBitsPerSecond: rate, queueBytes: queueBytes,
            loss: model, seed: seed, allowReorder: reorder, duplicateProbability: duplicate,
            reorderProbability: reorderProbability, reorderDelayNanoseconds: reorderDelay, outages: outages)
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
