import CTun
import Glibc

/// A nonblocking UDP socket that moves datagrams in batches (`recvmmsg`/`sendmmsg`).
///
/// Confined to one thread (not Sendable): create it, hand it to its I/O thread (e.g. by capturing it
/// in the `sending` closure of `IOThread`), and use it only there. Receiving and sending allocate
/// nothing; per-datagram problems are counted in `counters` instead of thrown.
public final class UDPSocket {
    /// Per-socket tallies of datagrams the packet path dropped, read by the owning thread.
    public struct Counters: Sendable, Equatable {
        /// Received datagrams larger than the batch's slot size, dropped.
        public var receiveTruncated: UInt64 = 0
        /// Receive calls that returned a transient error (e.g. ICMP-reported ECONNREFUSED).
        public var receiveErrors: UInt64 = 0
        /// Datagrams handed to the kernel.
        public var sent: UInt64 = 0
        /// Messages skipped because the kernel refused that message (ENETUNREACH, EMSGSIZE, ...).
        public var sendDropped: UInt64 = 0
        /// The errno of the last skipped message, 0 if none.
        public var lastSendErrno: Int32 = 0
    }

    /// The descriptor (for `EventLoop.register`); -1 after `close()`.
    public private(set) var fd: Int32
    /// The bound address, with the port the kernel chose if 0 was asked for.
    public let localAddress: SocketAddress
    /// Receive buffer size the kernel granted (it reports double the requested value).
    public let receiveBufferBytes: Int
    /// Send buffer size the kernel granted.
    public let sendBufferBytes: Int
    /// Drops and errors so far.
    public private(set) var counters = Counters()

    /// Opens a socket bound to `address` (port 0 picks one).
    ///
    /// - Parameters:
    ///   - dualStack: for an IPv6 address, also accept IPv4 (as `::ffff:a.b.c.d`); off by default.
    ///   - bufferBytes: requested SO_RCVBUF/SO_SNDBUF. Forced past `net.core.[rw]mem_max` when running
    ///     with CAP_NET_ADMIN, otherwise capped there by the kernel.
    public init(binding address: SocketAddress, dualStack: Bool = false, bufferBytes: Int = 8 << 20) throws(IOError) {
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw IOError(.socket, errno: errno, operation: "socket for \(address)") }
        do throws(IOError) {
            if address.family == .ipv6 {
                try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, dualStack ? 0 : 1, name: "IPV6_V6ONLY")
            }
            let requested = Int32(clamping: bufferBytes)
            try Self.setBuffer(fd, force: SO_RCVBUFFORCE, plain: SO_RCVBUF, bytes: requested, name: "SO_RCVBUF")
            try Self.setBuffer(fd, force: SO_SNDBUFFORCE, plain: SO_SNDBUF, bytes: requested, name: "SO_SNDBUF")
            let rc = address.withSockAddr { bind(fd, $0, $1) }
            guard rc == 0 else { throw IOError(.bind, errno: errno, operation: "bind \(address)") }

            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let got = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard got == 0 else { throw IOError(.bind, errno: errno, operation: "getsockname after bind \(address)") }
            guard let bound = SocketAddress(storage: &storage) else {
                throw IOError(code: .bind, errno: 0, message: "getsockname after bind \(address): unexpected family")
            }
            localAddress = bound
            receiveBufferBytes = Int(try Self.getOption(fd, SOL_SOCKET, SO_RCVBUF, name: "SO_RCVBUF"))
            sendBufferBytes = Int(try Self.getOption(fd, SOL_SOCKET, SO_SNDBUF, name: "SO_SNDBUF"))
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { close() }

    /// Closes the descriptor; later calls fail with EBADF instead of touching a reused descriptor.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Receives up to `batch.capacity` datagrams without blocking and returns how many whole ones
    /// `batch` now holds (0 when none were waiting). Truncated datagrams are dropped and counted.
    /// Throws only when the socket is unusable.
    public func receiveBatch(into batch: DatagramBatch) throws(IOError) -> Int {
        batch.reset()
        while true {
            let n = ctun_recvmmsg(fd, batch.headers, batch.iovecs, batch.addresses, UInt32(batch.capacity),
                                  batch.lengths, batch.truncated)
            if n >= 0 {
                batch.commit(received: Int(n))
                counters.receiveTruncated &+= UInt64(batch.truncatedCount)
                return batch.count
            }
            switch -n {
            case EAGAIN, EWOULDBLOCK:
                return 0
            case ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN:
                // A pending ICMP error is reported once and cleared, so the next call sees data again.
                counters.receiveErrors &+= 1
                continue
            default:
                throw IOError(.receive, errno: -n, operation: "recvmmsg on \(localAddress)")
            }
        }
    }

    /// Sends `batch`'s messages from index `start` and returns how many it took off the front:
    /// sent ones plus ones the kernel refused individually (counted in `sendDropped`, then skipped).
    /// Fewer than `batch.count - start` means the socket buffer is full (EAGAIN/ENOBUFS): call again
    /// with `start + result` when writable, or drop the rest. Throws only when the socket is unusable.
    public func sendBatch(_ batch: OutgoingBatch, from start: Int = 0) throws(IOError) -> Int {
        guard start >= 0 else { return 0 }
        let end = batch.count
        var index = start
        var retriedIndex = -1
        while index < end {
            let chunk = UInt32(min(end - index, 1024))
            let n = ctun_sendmmsg(fd, batch.headers, batch.iovecs + 2 * index, 2,
                                  batch.addresses + index, batch.addressLengths + index, chunk)
            if n > 0 {
                index += Int(n)
                counters.sent &+= UInt64(n)
                continue
            }
            let err = n == 0 ? EAGAIN : -n
            switch err {
            case EAGAIN, EWOULDBLOCK, ENOBUFS:
                return index - start
            case ECONNREFUSED where retriedIndex != index:
                // A stale ICMP error from an earlier datagram was reported (and cleared) instead of
                // sending this one, so this message deserves one more try.
                retriedIndex = index
            case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EHOSTDOWN, ENETDOWN, EMSGSIZE, EACCES, EPERM,
                 EADDRNOTAVAIL, EAFNOSUPPORT, EINVAL:
                counters.sendDropped &+= 1
                counters.lastSendErrno = err
                index += 1
            default:
                throw IOError(.send, errno: err, operation: "sendmmsg on \(localAddress)")
            }
        }
        return index - start
    }

    private static func setOption(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32, name: String) throws(IOError) {
        var value = value
        guard setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw IOError(.socketOption, errno: errno, operation: "setsockopt \(name)=\(value)")
        }
    }

    private static func getOption(_ fd: Int32, _ level: Int32, _ option: Int32, name: String) throws(IOError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, level, option, &value, &length) == 0 else {
            throw IOError(.socketOption, errno: errno, operation: "getsockopt \(name)")
        }
        return value
    }

    /// The FORCE variant ignores the sysctl cap but needs CAP_NET_ADMIN; without it the plain option
    /// still gets as much as the cap allows.
    private static func setBuffer(_ fd: Int32, force: Int32, plain: Int32, bytes: Int32, name: String) throws(IOError) {
        do {
            try setOption(fd, SOL_SOCKET, force, bytes, name: name + "FORCE")
        } catch {
            try setOption(fd, SOL_SOCKET, plain, bytes, name: name)
        }
    }
}
