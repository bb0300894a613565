import CTun
import Glibc

/// An epoll instance that reports readiness as small integer tokens chosen at registration.
///
/// `wait` reuses buffers allocated once, so a loop iteration allocates nothing. Confined to the
/// thread that waits on it (not Sendable); other threads interrupt it through its `Wakeup`.
public final class EventLoop {
    /// What to be told about.
    public struct Interest: OptionSet, Sendable {
        /// The raw epoll bits.
        public let rawValue: UInt32
        /// Creates an interest from epoll bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Data can be read (EPOLLIN).
        public static let readable = Interest(rawValue: CTUN_EPOLLIN)
        /// Data can be written (EPOLLOUT).
        public static let writable = Interest(rawValue: CTUN_EPOLLOUT)
        /// Report only changes (EPOLLET); the owner must then drain until EAGAIN.
        public static let edgeTriggered = Interest(rawValue: CTUN_EPOLLET)
    }

    /// One ready descriptor.
    public struct Event: Sendable {
        /// The token given at registration.
        public let token: Int
        /// The raw epoll event bits.
        public let flags: UInt32
        @usableFromInline
        init(token: Int, flags: UInt32) {
            self.token = token
            self.flags = flags
        }

        /// Data can be read (or the peer hung up, which a read will reveal).
        @inlinable public var isReadable: Bool { flags & (CTUN_EPOLLIN | CTUN_EPOLLHUP | CTUN_EPOLLERR) != 0 }
        /// Data can be written.
        @inlinable public var isWritable: Bool { flags & CTUN_EPOLLOUT != 0 }
        /// An error is pending on the descriptor.
        @inlinable public var isError: Bool { flags & CTUN_EPOLLERR != 0 }
    }

    /// The events of one `wait`: a view into the loop's buffers, valid until the next `wait`.
    public struct ReadyEvents: RandomAccessCollection {
        @usableFromInline let tokens: UnsafePointer<UInt64>
        @usableFromInline let flags: UnsafePointer<UInt32>
        /// Always 0.
        public let startIndex = 0
        /// The number of ready events.
        public let endIndex: Int

        @usableFromInline
        init(tokens: UnsafePointer<UInt64>, flags: UnsafePointer<UInt32>, count: Int) {
            self.tokens = tokens
            self.flags = flags
            self.endIndex = count
        }

        /// Event `position`.
        @inlinable
        public subscript(position: Int) -> Event {
            precondition(position >= 0 && position < endIndex, "ReadyEvents index out of range")
            return Event(token: Int(truncatingIfNeeded: tokens[position]), flags: flags[position])
        }
    }

    /// Most events one `wait` returns (at most 256).
    public let maxEvents: Int
    private var epfd: Int32
    private let tokens: UnsafeMutablePointer<UInt64>
    private let flags: UnsafeMutablePointer<UInt32>
    private var wakeup: Wakeup?
    private var wakeupToken: UInt64 = 0

    /// Creates an epoll instance returning at most `maxEvents` (1...256) events per `wait`.
    public init(maxEvents: Int = 64) throws(IOError) {
        let fd = ctun_epoll_create()
        guard fd >= 0 else { throw IOError(.eventLoop, errno: -fd, operation: "epoll_create1") }
        epfd = fd
        self.maxEvents = min(max(1, maxEvents), Int(CTUN_EPOLL_MAX_EVENTS))
        tokens = .allocate(capacity: self.maxEvents)
        tokens.initialize(repeating: 0, count: self.maxEvents)
        flags = .allocate(capacity: self.maxEvents)
        flags.initialize(repeating: 0, count: self.maxEvents)
    }

    deinit {
        close()
        tokens.deallocate()
        flags.deallocate()
    }

    /// Closes the epoll instance; registered descriptors stay open (their owners close them).
    public func close() {
        if epfd >= 0 { Glibc.close(epfd) }
        epfd = -1
    }

    /// Starts watching `fd`, reporting it as `token`.
    public func register(_ fd: Int32, token: Int, interest: Interest = .readable) throws(IOError) {
        try control(CTUN_EPOLL_ADD, fd, token: token, interest: interest, verb: "add")
    }

    /// Changes what `fd` is watched for (e.g. add `.writable` while a send is blocked).
    public func modify(_ fd: Int32, token: Int, interest: Interest) throws(IOError) {
        try control(CTUN_EPOLL_MOD, fd, token: token, interest: interest, verb: "modify")
    }

    /// Stops watching `fd`.
    public func unregister(_ fd: Int32) throws(IOError) {
        try control(CTUN_EPOLL_DEL, fd, token: 0, interest: [], verb: "delete")
    }

    /// Creates the loop's `Wakeup`, reported as `token`; the loop drains it itself inside `wait`.
    /// A loop has one wakeup: asking again returns it (the token must match).
    public func makeWakeup(token: Int) throws(IOError) -> Wakeup {
        if let wakeup {
            guard UInt64(truncatingIfNeeded: token) == wakeupToken else {
                throw IOError(code: .invalidArgument, errno: EEXIST,
                              message: "make wakeup with token \(token): this loop already has one with token \(Int(truncatingIfNeeded: wakeupToken))")
            }
            return wakeup
        }
        let made = try Wakeup()
        try register(made.fd, token: token, interest: .readable)
        wakeup = made
        wakeupToken = UInt64(truncatingIfNeeded: token)
        return made
    }

    /// Waits until a registered descriptor is ready or the timeout passes (nil waits forever).
    /// An empty result means the timeout passed or a signal interrupted the wait.
    public func wait(timeoutNanoseconds: UInt64?) throws(IOError) -> ReadyEvents {
        let timeout = timeoutNanoseconds.map { Int64(clamping: $0) } ?? -1
        let n = ctun_epoll_wait(epfd, tokens, flags, Int32(maxEvents), timeout)
        guard n >= 0 else { throw IOError(.eventLoop, errno: -n, operation: "epoll_wait") }
        let count = Int(n)
        if let wakeup {
            for i in 0..<count where tokens[i] == wakeupToken {
                wakeup.drain()
            }
        }
        return ReadyEvents(tokens: tokens, flags: flags, count: count)
    }

    private func control(_ op: Int, _ fd: Int32, token: Int, interest: Interest, verb: String) throws(IOError) {
        let rc = ctun_epoll_ctl(epfd, Int32(op), fd, interest.rawValue, UInt64(truncatingIfNeeded: token))
        guard rc == 0 else { throw IOError(.eventLoop, errno: -rc, operation: "epoll_ctl \(verb) fd \(fd)") }
    }
}
