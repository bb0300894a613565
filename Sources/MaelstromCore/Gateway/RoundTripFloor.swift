/// The least round trip to a peer over the last 10 to 20 seconds: the path without its queues,
/// which the adaptive policy's recovery budget follows.
///
/// Two slots of 10 s: a route that got longer shows within 20 s, and one queue-free echo in a
/// slot is enough (keepalives go every 50 ms while data flows).
struct RoundTripFloor: Sendable {
    static let slotNanoseconds: UInt64 = 10_000_000_000

    private var slot: UInt64 = 0
    private var currentMinimum: UInt64 = .max
    private var previousMinimum: UInt64 = .max

    /// The floor, nil before the first sample (or after 20 s without one).
    var value: UInt64? {
        let least = min(currentMinimum, previousMinimum)
        return least == .max ? nil : least
    }

    /// Takes a round trip measured at `now`.
    mutating func add(_ roundTrip: UInt64, now: UInt64) {
        let current = now / Self.slotNanoseconds
        if current != slot {
            previousMinimum = current == slot &+ 1 ? currentMinimum : .max
            currentMinimum = .max
            slot = current
        }
        currentMinimum = min(currentMinimum, roundTrip)
    }
}
