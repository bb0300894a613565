import Glibc

/// A failed system call or control-plane command, with the `errno` that explains it.
///
/// Messages read like `open /dev/net/tun: Permission denied (errno 13)` so they can be logged as-is.
/// Building one allocates (the message), so the packet path reports per-packet failures through
/// counters and throws only when the descriptor itself is unusable.
public struct IOError: Error, CustomStringConvertible, Sendable {
    /// Which operation failed.
    public enum Code: Sendable, Hashable {
        /// Opening or attaching `/dev/net/tun`.
        case tunOpen
        /// Setting a TUN interface's MTU or flags.
        case tunConfigure
        /// Reading from a TUN descriptor.
        case tunRead
        /// Writing to a TUN descriptor.
        case tunWrite
        /// Creating a socket.
        case socket
        /// Setting or reading a socket option.
        case socketOption
        /// Binding a socket or reading its bound address.
        case bind
        /// Receiving datagrams.
        case receive
        /// Sending datagrams.
        case send
        /// Creating, changing or waiting on an epoll instance.
        case eventLoop
        /// Creating an eventfd.
        case wakeup
        /// An external command (`ip`) could not run or exited with failure.
        case command
        /// Starting a thread.
        case thread
        /// Entering a network namespace.
        case namespace
        /// An argument was rejected before any system call was made.
        case invalidArgument
    }

    /// Which operation failed.
    public var code: Code
    /// The `errno` value, or 0 when the failure did not come from a system call.
    public var errno: Int32
    /// Human-readable explanation, including the operation, its target and the errno text.
    public var message: String

    /// The message.
    public var description: String { message }

    /// Creates an error with a ready-made message.
    public init(code: Code, errno: Int32, message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    /// Creates an error whose message is `"<operation>: <strerror> (errno N)"`.
    public init(_ code: Code, errno: Int32, operation: String) {
        // glibc's strerror returns static strings for known values, so it is safe across threads here.
        let text = String(cString: strerror(errno))
        self.init(code: code, errno: errno, message: "\(operation): \(text) (errno \(errno))")
    }
}
