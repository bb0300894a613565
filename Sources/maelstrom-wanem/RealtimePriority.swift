import Glibc

/// Real-time scheduling for the packet loop's thread.
///
/// The bed shares two cores with senders, receivers and gateways; under the default scheduler a busy
/// neighbour delays the emulator's wakeups by milliseconds, which shows as jitter no real link has.
/// SCHED_FIFO lets the loop preempt them; it sleeps between departures, so it takes little from them.
enum RealtimePriority {
    /// Puts the calling thread in SCHED_FIFO at `priority` (1...99); returns an error text on failure.
    static func apply(_ priority: Int32) -> String? {
        var parameters = sched_param()
        parameters.sched_priority = priority
        guard sched_setscheduler(0, SCHED_FIFO, &parameters) == 0 else {
            return "cannot use SCHED_FIFO priority \(priority): \(String(cString: strerror(errno)))"
        }
        return nil
    }
}
