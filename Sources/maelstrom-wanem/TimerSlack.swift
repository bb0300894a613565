import Foundation

/// The kernel's timer slack for the calling process's main thread.
///
/// Linux lets a sleeping thread's timer fire up to 50 µs late by default, to batch wakeups; a link
/// that promises sub-0.1 ms jitter cannot afford that, so the loop thread asks for 1 ns.
enum TimerSlack {
    /// Sets the main thread's slack (inherited by threads it starts later); returns an error text on failure.
    static func minimise() -> String? {
        do {
            try "1".write(toFile: "/proc/self/timerslack_ns", atomically: false, encoding: .utf8)
            return nil
        } catch {
            return "cannot set /proc/self/timerslack_ns: \(error.localizedDescription)"
        }
    }
}
