import CTun
import Glibc

/// Interrupts an `EventLoop.wait` from any thread (an eventfd registered with the loop).
///
/// Sendable: it holds only an immutable descriptor, and eventfd writes are atomic. Signals coalesce:
/// many signals before the loop wakes produce one wakeup.
public final class Wakeup: Sendable {
    let fd: Int32

    init() throws(IOError) {
        let fd = ctun_eventfd_create()
        guard fd >= 0 else { throw IOError(.wakeup, errno: -fd, operation: "eventfd") }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Makes the loop's current or next `wait` return, reporting the wakeup's token.
    public func signal() {
        // Cannot fail for a live eventfd: a saturated counter already guarantees the wakeup.
        _ = ctun_eventfd_signal(fd)
    }

    /// Resets the counter, so a level-triggered loop does not keep waking.
    func drain() {
        _ = ctun_eventfd_drain(fd)
    }
}
