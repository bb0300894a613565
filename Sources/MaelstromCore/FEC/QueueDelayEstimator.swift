/// The queue a peer's frames wait in on the way here, from its keepalives' one-way delay.
///
/// A keepalive carries its sender's clock; arrival time minus that is the one-way delay plus an
/// unknown clock offset. Its minimum over the last minute is the empty path, so a sample minus
/// that minimum is the queue the keepalive waited in. A full drop-tail queue (or an AQM at its
/// mark) is where congestion losses happen: a sample is **congested** when its queue is above
/// `threshold` and at least half the highest queue seen in the last minute.
public struct QueueDelayEstimator: Sendable {
    /// Width of one slot of the minimum and maximum: 8 s, eight of them.
    public static let slotNanoseconds: UInt64 = 8_000_000_000
    private static let slots = 8

    private var minima = SIMD8<Int64>(repeating: .max)
    private var peaks = SIMD8<Int64>(repeating: 0)
    private var slot: UInt64 = 0
    private var started = false
    /// The queue the last sample waited in, in nanoseconds.
    public private(set) var queueDelay: UInt64 = 0
    /// Whether the last sample found the queue full (see the type's summary).
    public private(set) var isCongested = false
    /// Queue below which nothing is congestion, in nanoseconds (0: never congested).
    public let threshold: UInt64

    /// Creates an estimator that calls a queue congested above `threshold` nanoseconds.
    public init(threshold: UInt64) { self.threshold = threshold }

    /// Takes a keepalive stamped `sentAt` on the peer's clock that arrived at `now` on ours;
    /// returns whether it found the queue full.
    public mutating func sample(sentAt: UInt64, now: UInt64) -> Bool {
        let delay = Int64(bitPattern: now &- sentAt)
        let current = now / Self.slotNanoseconds
        if !started {
            started = true
            slot = current
        }
        if current > slot {
            // Clear the slots passed over (all of them after a long silence).
            for step in 1...min(current - slot, UInt64(Self.slots)) {
                let index = Int((slot + step) % UInt64(Self.slots))
                minima[index] = .max
                peaks[index] = 0
            }
            slot = current
        }
        let index = Int(slot % UInt64(Self.slots))
        minima[index] = min(minima[index], delay)
        let queue = delay &- minima.min()
        queueDelay = UInt64(max(0, queue))
        peaks[index] = max(peaks[index], Int64(queueDelay))
        let peak = UInt64(peaks.max())
        isCongested = threshold > 0 && queueDelay > threshold && queueDelay * 2 >= peak
        return isCongested
    }
}
