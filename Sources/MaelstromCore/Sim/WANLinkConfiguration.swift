/// The impairments of one direction of an emulated long-haul link.
///
/// All times are nanoseconds, so the emulator and the tests share one unit with the clock.
public struct WANLinkConfiguration: Sendable, Equatable {
    /// One-way propagation delay.
    public var delayNanoseconds: UInt64
    /// Half-width of the uniform jitter added to the delay (each packet gets delay ± up to this).
    public var jitterNanoseconds: UInt64
    /// Bottleneck rate in bits per second; 0 means no rate limit (and then no queue builds up).
    public var rateBitsPerSecond: UInt64
    /// Drop-tail queue in front of the rate limiter, in bytes; only meaningful with a rate.
    public var queueBytes: UInt64
    /// How the link loses packets before they reach the queue.
    public var loss: LossModel
    /// Seed of the loss process and of the jitter; equal seeds give equal runs.
    public var seed: UInt64
    /// Lets jitter reorder packets; without it departures never go backwards.
    public var allowReorder: Bool
    /// Probability that an accepted packet is delivered twice (both copies at its departure time).
    public var duplicateProbability: Double
    /// Probability that an accepted packet is held back by up to `reorderDelayNanoseconds` more,
    /// so that packets offered after it overtake it (reordering whatever `allowReorder` says).
    public var reorderProbability: Double
    /// The largest extra delay of a reordered packet; each one gets a uniform share of it.
    public var reorderDelayNanoseconds: UInt64
    /// Windows in which the link loses everything, on the link's own clock (see `WANLink.init`).
    public var outages: [WANOutage]

    /// Largest accepted delay or jitter: a minute, far beyond any real path, keeps sums from overflowing.
    public static let maxDelayNanoseconds: UInt64 = 60_000_000_000
    /// Largest accepted rate: 1 Tbit/s keeps serialisation arithmetic exact in 64 bits.
    public static let maxRateBitsPerSecond: UInt64 = 1_000_000_000_000
    /// Largest accepted queue: 1 GiB.
    public static let maxQueueBytes: UInt64 = 1 << 30

    /// Creates a configuration; `validate()` says whether the emulator can run it.
    public init(
        delayNanoseconds: UInt64 = 0, jitterNanoseconds: UInt64 = 0, rateBitsPerSecond: UInt64 = 0,
        queueBytes: UInt64 = 1_000_000, loss: LossModel = .none, seed: UInt64 = 1, allowReorder: Bool = false,
        duplicateProbability: Double = 0, reorderProbability: Double = 0, reorderDelayNanoseconds: UInt64 = 0,
        outages: [WANOutage] = []
    ) {
        self.delayNanoseconds = delayNanoseconds
        self.jitterNanoseconds = jitterNanoseconds
        self.rateBitsPerSecond = rateBitsPerSecond
        self.queueBytes = queueBytes
        self.loss = loss
        self.seed = seed
        self.allowReorder = allowReorder
        self.duplicateProbability = duplicateProbability
        self.reorderProbability = reorderProbability
        self.reorderDelayNanoseconds = reorderDelayNanoseconds
        self.outages = outages
    }

    /// Throws a `WANLinkError` naming the first out-of-range setting.
    public func validate() throws(WANLinkError) {
        guard delayNanoseconds <= Self.maxDelayNanoseconds else {
            throw WANLinkError(.delayOutOfRange, "delay \(delayNanoseconds) ns exceeds the limit of \(Self.maxDelayNanoseconds) ns")
        }
        guard jitterNanoseconds <= Self.maxDelayNanoseconds else {
            throw WANLinkError(.jitterOutOfRange, "jitter \(jitterNanoseconds) ns exceeds the limit of \(Self.maxDelayNanoseconds) ns")
        }
        guard rateBitsPerSecond <= Self.maxRateBitsPerSecond else {
            throw WANLinkError(.rateOutOfRange, "rate \(rateBitsPerSecond) bit/s exceeds the limit of \(Self.maxRateBitsPerSecond) bit/s")
        }
        guard queueBytes >= 1, queueBytes <= Self.maxQueueBytes else {
            throw WANLinkError(.queueOutOfRange, "queue of \(queueBytes) bytes is outside 1...\(Self.maxQueueBytes)")
        }
        guard duplicateProbability >= 0, duplicateProbability <= 1 else {
            throw WANLinkError(.probabilityOutOfRange, "duplicate probability \(duplicateProbability) is outside 0...1")
        }
        guard reorderProbability >= 0, reorderProbability <= 1 else {
            throw WANLinkError(.probabilityOutOfRange, "reorder probability \(reorderProbability) is outside 0...1")
        }
        guard reorderDelayNanoseconds <= Self.maxDelayNanoseconds else {
            throw WANLinkError(.delayOutOfRange, "reorder delay \(reorderDelayNanoseconds) ns exceeds the limit of \(Self.maxDelayNanoseconds) ns")
        }
        guard reorderProbability == 0 || reorderDelayNanoseconds > 0 else {
            throw WANLinkError(.delayOutOfRange, "a reorder probability needs a reorder delay above 0")
        }
        for outage in outages {
            guard outage.startNanoseconds <= Self.maxOutageNanoseconds, outage.durationNanoseconds <= Self.maxOutageNanoseconds else {
                throw WANLinkError(.outageOutOfRange, "an outage at \(outage.startNanoseconds) ns for \(outage.durationNanoseconds) ns is beyond a week")
            }
        }
    }

    /// Latest start and longest duration of an outage: a week, far beyond any test, keeps sums exact.
    public static let maxOutageNanoseconds: UInt64 = 7 * 86_400 * 1_000_000_000
}

/// A window in which the emulated link loses every packet (a WAN outage).
public struct WANOutage: Sendable, Equatable {
    /// When it begins, counted from the link's origin.
    public var startNanoseconds: UInt64
    /// How long it lasts.
    public var durationNanoseconds: UInt64

    /// Creates an outage of `duration` nanoseconds beginning `start` nanoseconds after the origin.
    public init(startNanoseconds: UInt64, durationNanoseconds: UInt64) {
        self.startNanoseconds = startNanoseconds
        self.durationNanoseconds = durationNanoseconds
    }

    /// Parses `START+DURATION` in seconds (decimals allowed), e.g. `20+5`; nil when malformed.
    public init?(text: some StringProtocol) {
        let parts = text.split(separator: "+", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Double(parts[0]), let duration = Double(parts[1]),
              start.isFinite, duration.isFinite, start >= 0, duration > 0,
              start * 1e9 <= Double(WANLinkConfiguration.maxOutageNanoseconds),
              duration * 1e9 <= Double(WANLinkConfiguration.maxOutageNanoseconds)
        else { return nil }
        startNanoseconds = UInt64((start * 1e9).rounded())
        durationNanoseconds = UInt64((duration * 1e9).rounded())
    }

    /// Whether `elapsed` nanoseconds after the origin falls inside the outage.
    @inline(__always)
    public func contains(_ elapsed: UInt64) -> Bool {
        elapsed >= startNanoseconds && elapsed - startNanoseconds < durationNanoseconds
    }
}

/// A link configuration the emulator cannot run.
public struct WANLinkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which setting was refused.
    public enum Code: Sendable, Equatable {
        /// The delay is too long.
        case delayOutOfRange
        /// The jitter is too wide.
        case jitterOutOfRange
        /// The rate is too high.
        case rateOutOfRange
        /// The queue is empty or too large.
        case queueOutOfRange
        /// A duplicate or reorder probability is outside 0...1.
        case probabilityOutOfRange
        /// An outage starts or lasts beyond the limit.
        case outageOutOfRange
    }

    /// Which setting was refused.
    public let code: Code
    /// One line naming the setting and the limit.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
