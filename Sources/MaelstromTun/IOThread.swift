import NIOConcurrencyHelpers
import CTun
import Glibc

/// A dedicated, named OS thread for one I/O loop, joinable for an orderly shutdown.
///
/// The packet path blocks in `epoll_wait`, which must not happen on Swift's cooperative pool;
/// a plain pthread keeps it off the pool and lets the loop own its non-Sendable I/O objects.
public final class IOThread: Sendable {
    /// The thread's name as given (the kernel shows at most 15 bytes of it).
    public let name: String
    private let handle: pthread_t
    private let joined = NIOLockedValueBox(false)

    /// Boxes the closure so it can travel through pthread_create's `void *`.
    private final class Start {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts a thread named `name` running `body`.
    ///
    /// `body` is `sending`, so it may capture non-Sendable I/O objects (sockets, TUN, event loop)
    /// that the caller hands over and no longer uses.
    public init(name: String, body: sending @escaping () -> Void) throws(IOError) {
        self.name = name
        let start = Unmanaged.passRetained(Start(name: name, body: body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let start = Unmanaged<Start>.fromOpaque(argument).takeRetainedValue()
            _ = ctun_set_thread_name(start.name)
            start.body()
            return nil
        }, start.toOpaque())
        guard rc == 0 else {
            start.release()
            throw IOError(.thread, errno: rc, operation: "pthread_create \(name)")
        }
        handle = thread
    }

    /// Waits for the thread to finish. Later calls, and calls from the thread itself, return at once.
    public func join() {
        if pthread_equal(pthread_self(), handle) != 0 { return }
        let first = joined.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { _ = pthread_join(handle, nil) }
    }

    deinit {
        // Never joined: let the thread's resources go when it ends.
        if !joined.withLockedValue({ $0 }) { _ = pthread_detach(handle) }
    }
}
