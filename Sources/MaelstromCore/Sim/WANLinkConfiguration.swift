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

    /// Largest accepted delay or jitter: a minute, far beyond any real path, keeps sums from overflowing.
    public static let maxDelayNanoseconds: UInt64 = 60_000_000_000
    /// Largest accepted rate: 1 Tbit/s keeps serialisation arithmetic exact in 64 bits.
    public static let maxRateBitsPerSecond: UInt64 = 1_000_000_000_000
    /// Largest accepted queue: 1 GiB.
    public static let maxQueueBytes: UInt64 = 1 << 30

    /// Creates a configuration; `validate()` says whether the emulator can run it.
    public init(
        delayNanoseconds: UInt64 = 0, jitterNanoseconds: UInt64 = 0, rateBitsPerSecond: UInt64 = 0,
        queueBytes: UInt64 = 1_000_000, loss: LossModel = .none, seed: UInt64 = 1, allowReorder: Bool = false
    ) {
        self.delayNanoseconds = delayNanoseconds
        self.jitterNanoseconds = jitterNanoseconds
        self.rateBitsPerSecond = rateBitsPerSecond
        self.queueBytes = queueBytes
        self.loss = loss
        self.seed = seed
        self.allowReorder = allowReorder
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
