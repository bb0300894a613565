/// One direction of an impaired long-haul link, as a state machine driven by packet arrivals.
///
/// For each offered packet it decides: lost by the loss model, dropped by the full drop-tail queue,
/// or accepted with the time it leaves the link. Time is an input (nanoseconds on any monotonic clock),
/// so the emulator feeds it the real clock and the tests feed it virtual time.
///
/// Timing follows netem, so figures compare with the literature:
/// `departure = max(now + delay + jitter, linkFreeAt) + length·8/rate`, then `linkFreeAt = departure`.
/// The rate limiter therefore spaces departures by their serialisation time, and a packet that finds
/// the link busy waits in a queue whose backlog is `linkFreeAt − (now + delay + J)` worth of bytes at
/// the rate (measured past the largest jitter, so jitter alone never fills the queue).
///
/// The loss model is consulted first for every offered packet, so with a fixed seed the n-th packet's
/// fate does not depend on congestion; lost packets take no room in the queue.
public struct WANLink: Sendable {
    /// What happens to one offered packet.
    public enum Verdict: Sendable, Equatable {
        /// The loss model dropped it.
        case lost
        /// The drop-tail queue had no room for it.
        case queueFull
        /// It leaves the link at `departure` (nanoseconds, same clock as `now`).
        case accepted(departure: UInt64)
        /// It leaves the link twice, both copies at `departure`.
        case duplicated(departure: UInt64)
        /// An outage of the link dropped it.
        case outage
    }

    /// Packet and byte tallies since the link was created.
    public struct Counters: Sendable, Equatable {
        /// Packets offered.
        public var offered: UInt64 = 0
        /// Packets dropped by the loss model.
        public var lostModel: UInt64 = 0
        /// Packets dropped because the queue was full.
        public var droppedQueue: UInt64 = 0
        /// Packets dropped by an outage.
        public var lostOutage: UInt64 = 0
        /// Accepted packets delivered a second time.
        public var duplicated: UInt64 = 0
        /// Accepted packets held back so that later ones overtook them.
        public var reordered: UInt64 = 0
        /// Packets accepted (each leaves the link at its departure time).
        public var delivered: UInt64 = 0
        /// Bytes of the accepted packets.
        public var bytes: UInt64 = 0
        /// Creates zeroed counters.
        public init() {}
    }

    /// Largest packet `offer` takes; keeps the serialisation arithmetic exact in 64 bits.
    public static let maxPacketLength = 1 << 20

    /// The impairments.
    public let configuration: WANLinkConfiguration
    /// Tallies so far.
    public private(set) var counters = Counters()

    private var loss: LossProcess
    private var jitterRandom: SplitMix64
    /// When the rate limiter finishes the last accepted packet.
    private var linkFreeAt: UInt64 = 0
    /// The latest departure handed out, the floor for the next one unless reordering is allowed.
    private var lastDeparture: UInt64 = 0
    /// Bit-nanoseconds left over from integer division, carried so the long-run rate is exact.
    private var serialisationRemainder: UInt64 = 0
    /// The queue's capacity as time at the rate (0 when there is no rate).
    private let queueNanoseconds: UInt64
    /// Jitter span `2J + 1`, as a width for uniform integer sampling.
    private let jitterSpan: UInt64
    /// Draws for duplication and reordering, a stream of its own so they change no loss or jitter.
    private var eventRandom: SplitMix64
    /// Where the outages' times count from, on the clock of `now`.
    private let origin: UInt64
    /// The probabilities as thresholds on a 64-bit draw (0: never).
    private let duplicateThreshold: UInt64
    private let reorderThreshold: UInt64

    /// Creates a link in its idle state; throws if the configuration is out of range.
    ///
    /// `origin` is the time (on the clock `offer` is given) from which the outages are counted.
    public init(configuration: WANLinkConfiguration, origin: UInt64 = 0) throws(WANLinkError) {
        try configuration.validate()
        self.configuration = configuration
        loss = LossProcess(model: configuration.loss, seed: configuration.seed)
        // A different stream from the loss process, so enabling jitter does not change which packets are lost.
        jitterRandom = SplitMix64(seed: configuration.seed ^ 0x6A09_E667_F3BC_C909)
        let rate = configuration.rateBitsPerSecond
        queueNanoseconds = rate == 0 ? 0 : configuration.queueBytes * 8_000_000_000 / rate
        jitterSpan = configuration.jitterNanoseconds * 2 + 1
        eventRandom = SplitMix64(seed: configuration.seed ^ 0xBB67_AE85_84CA_A73B)
        self.origin = origin
        duplicateThreshold = Self.threshold(configuration.duplicateProbability)
        reorderThreshold = Self.threshold(configuration.reorderProbability)
    }

    /// `p` as a bound below which a uniform 64-bit draw falls with probability `p`.
    private static func threshold(_ p: Double) -> UInt64 {
        p >= 1 ? .max : UInt64(p * 18_446_744_073_709_551_616.0)
    }

    /// Decides the fate of a packet of `length` bytes arriving at `now` (nondecreasing between calls).
    public mutating func offer(length: Int, now: UInt64) -> Verdict {
        precondition(length >= 0 && length <= Self.maxPacketLength, "WANLink.offer: packet length out of range")
        counters.offered &+= 1
        if loss.nextIsLost(at: now >= origin ? now &- origin : 0) {
            counters.lostModel &+= 1
            return .lost
        }
        if !configuration.outages.isEmpty, now >= origin {
            let elapsed = now &- origin
            for outage in configuration.outages where outage.contains(elapsed) {
                counters.lostOutage &+= 1
                return .outage
            }
        }
        let delay = configuration.delayNanoseconds
        let jitter = configuration.jitterNanoseconds
        var earliest = now &+ delay
        if jitter > 0 {
            let offset = jitterSpan.multipliedFullWidth(by: jitterRandom.next()).high
            // offset − J is the signed jitter; a jitter larger than the delay cannot send before arrival.
            earliest = delay &+ offset >= jitter ? now &+ delay &+ offset &- jitter : now
        }
        var departure = earliest
        let rate = configuration.rateBitsPerSecond
        if rate > 0 {
            let reference = now &+ delay &+ jitter
            let backlog = linkFreeAt > reference ? linkFreeAt &- reference : 0
            let bitNanoseconds = UInt64(length) &* 8_000_000_000 &+ serialisationRemainder
            let serialisation = bitNanoseconds / rate
            if backlog &+ UInt64(length) &* 8_000_000_000 / rate > queueNanoseconds {
                counters.droppedQueue &+= 1
                return .queueFull
            }
            serialisationRemainder = bitNanoseconds % rate
            departure = max(departure, linkFreeAt) &+ serialisation
            linkFreeAt = departure
        }
        if !configuration.allowReorder { departure = max(departure, lastDeparture) }
        if reorderThreshold > 0, eventRandom.next() < reorderThreshold {
            // Held back past the floor without raising it, so the packets behind it overtake it.
            let extra = 1 &+ configuration.reorderDelayNanoseconds.multipliedFullWidth(by: eventRandom.next()).high
            counters.reordered &+= 1
            counters.delivered &+= 1
            counters.bytes &+= UInt64(length)
            return .accepted(departure: departure &+ extra)
        }
        lastDeparture = max(lastDeparture, departure)
        counters.delivered &+= 1
        counters.bytes &+= UInt64(length)
        if duplicateThreshold > 0, eventRandom.next() < duplicateThreshold {
            counters.duplicated &+= 1
            return .duplicated(departure: departure)
        }
        return .accepted(departure: departure)
    }

    /// Bytes waiting for the rate limiter at `now` beyond what delay and jitter explain (0 without a rate).
    public func backlogBytes(now: UInt64) -> UInt64 {
        let rate = configuration.rateBitsPerSecond
        let reference = now &+ configuration.delayNanoseconds &+ configuration.jitterNanoseconds
        guard rate > 0, linkFreeAt > reference else { return 0 }
        let product = (linkFreeAt &- reference).multipliedFullWidth(by: rate)
        return UInt64(8_000_000_000).dividingFullWidth(product).quotient
    }
}
