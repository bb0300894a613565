import CTun
import Glibc

/// A nonblocking UDP socket that moves datagrams in batches (`recvmmsg`/`sendmmsg`).
///
/// Where the kernel supports it, it offloads segmentation both ways: a send groups the batch's
/// equal-size datagrams to one destination into one `UDP_SEGMENT` message, so the stack is walked
/// once per run instead of once per datagram, and receives are coalesced (`UDP_GRO`) into runs that
/// `DatagramBatch` splits again. `MAELSTROM_UDP_OFFLOAD=off` (or `send`, `receive`) in the
/// environment limits this, for diagnosis.
///
/// Confined to one thread (not Sendable): create it, hand it to its I/O thread (e.g. by capturing it
/// in the `sending` closure of `IOThread`), and use it only there. Receiving and sending allocate
/// nothing; per-datagram problems are counted in `counters` instead of thrown.
public final class UDPSocket {
    /// Per-socket tallies of datagrams the packet path dropped, read by the owning thread.
    public struct Counters: Sendable, Equatable {
        /// Datagrams received (whole ones, after splitting coalesced runs).
        public var received: UInt64 = 0
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
        /// Segmented sends (`UDP_SEGMENT`), each carrying 2...64 datagrams.
        public var segmentedSends: UInt64 = 0
        /// Datagrams that went out in segmented sends (also counted in `sent`).
        public var segmentedDatagrams: UInt64 = 0
        /// Times the kernel refused segmented sends and the socket went back to plain ones for good.
        public var segmentationFallbacks: UInt64 = 0
        /// Received runs of coalesced datagrams (`UDP_GRO`), each split into its datagrams.
        public var coalescedRuns: UInt64 = 0
        /// Datagrams that arrived inside coalesced runs.
        public var coalescedDatagrams: UInt64 = 0
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
    /// True while `sendBatch` groups datagrams into segmented sends (`UDP_SEGMENT`).
    public private(set) var usesSegmentedSends = false
    /// True while the socket receives coalesced runs (`UDP_GRO`).
    public private(set) var usesCoalescedReceives = false
    /// Segment sizes at or above this went back with EMSGSIZE (larger than the path allows), so
    /// those datagrams are sent plain, where the kernel may still fragment them.
    private(set) var segmentSizeCeiling = Int(UInt16.max) + 1

    /// Opens a socket bound to `address` (port 0 picks one).
    ///
    /// - Parameters:
    ///   - dualStack: for an IPv6 address, also accept IPv4 (as `::ffff:a.b.c.d`); off by default.
    ///   - bufferBytes: requested SO_RCVBUF/SO_SNDBUF. Forced past `net.core.[rw]mem_max` when running
    ///     with CAP_NET_ADMIN, otherwise capped there by the kernel.
    ///   - reusePort: share the address with the other lanes' sockets (`SO_REUSEPORT`).
    public init(binding address: SocketAddress, dualStack: Bool = false, bufferBytes: Int = 8 << 20, reusePort: Bool = false) throws(IOError) {
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw IOError(.socket, errno: errno, operation: "socket for \(address)") }
        do throws(IOError) {
            if address.family == .ipv6 {
                try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, dualStack ? 0 : 1, name: "IPV6_V6ONLY")
            }
            if reusePort {
                let rc = ctun_set_reuseport(fd)
                guard rc == 0 else { throw IOError(.socketOption, errno: -rc, operation: "setsockopt SO_REUSEPORT") }
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
        // Offload is an optimisation: where the kernel lacks it, the socket works as before.
        let allowed = Self.allowedOffload
        usesSegmentedSends = allowed.send && ctun_udp_segmentation_probe(fd) == 0
        usesCoalescedReceives = allowed.receive && ctun_udp_set_gro(fd, 1) == 0
    }

    /// Which offloads the environment allows (`MAELSTROM_UDP_OFFLOAD`: on, off, send, receive).
    private static let allowedOffload: (send: Bool, receive: Bool) = {
        guard let raw = getenv("MAELSTROM_UDP_OFFLOAD") else { return (true, true) }
        switch String(cString: raw).lowercased() {
        case "off", "0", "none", "false", "no": return (false, false)
        case "send", "gso": return (true, false)
        case "receive", "gro": return (false, true)
        default: return (true, true)
        }
    }()

    /// Zeroes the counters; for tests that look at one exchange only.
    func resetCounters() { counters = Counters() }

    /// Turns the offloads on or off (on only where the kernel supports them), before any traffic:
    /// runs already queued when coalescing goes off would not fit the batch's own slots. For tests
    /// that compare the plain and the offloaded paths.
    func setOffload(send: Bool, receive: Bool) {
        usesSegmentedSends = send && ctun_udp_segmentation_probe(fd) == 0
        if receive != usesCoalescedReceives && ctun_udp_set_gro(fd, receive ? 1 : 0) == 0 {
            usesCoalescedReceives = receive
        }
    }

    deinit { close() }

    /// Closes the descriptor; later calls fail with EBADF instead of touching a reused descriptor.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Receives about `batch.capacity` datagrams (exactly at most that many without coalescing; runs
    /// are taken whole) without blocking and returns how many whole datagrams `batch` now holds (0
    /// when none were waiting). Truncated datagrams are dropped and counted. Throws only when the
    /// socket is unusable.
    public func receiveBatch(into batch: DatagramBatch) throws(IOError) -> Int {
        batch.reset()
        while true {
            let n: Int32
            if usesCoalescedReceives {
                batch.prepareCoalescing()
                n = ctun_recvmmsg_segmented(fd, batch.headers, batch.controls, batch.coalescingIovecs, batch.addresses,
                                            UInt32(batch.coalescingSlotsWanted), batch.lengths, batch.truncated,
                                            batch.segmentSizes)
            } else {
                n = ctun_recvmmsg(fd, batch.headers, batch.iovecs, batch.addresses, UInt32(batch.capacity),
                                  batch.lengths, batch.truncated)
            }
            if n >= 0 {
                if usesCoalescedReceives {
                    batch.commitCoalesced(received: Int(n))
                    counters.coalescedRuns &+= UInt64(batch.coalescedRuns)
                    counters.coalescedDatagrams &+= UInt64(batch.coalescedDatagrams)
                } else {
                    batch.commit(received: Int(n))
                }
                counters.receiveTruncated &+= UInt64(batch.truncatedCount)
                counters.received &+= UInt64(batch.count)
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
    ///
    /// Messages with the same destination and length go out together as segmented sends, so they
    /// may leave in a different order than queued: in order within each destination and length,
    /// and never ahead of a shorter message queued before them. An interrupted call reports only
    /// the prefix it finished; the retry from there skips the messages after it that were already
    /// sent, unless the batch was changed in between.
    public func sendBatch(_ batch: OutgoingBatch, from start: Int = 0) throws(IOError) -> Int {
        let end = batch.count
        guard start >= 0, start < end else { return 0 }
        batch.beginSend(from: start, to: end)
        // Plain for the rest of this call after a refusal whose cause is not known yet.
        var segmenting = usesSegmentedSends
        // After EINVAL on a segmented send, its first message is resent plain: if that works, the
        // kernel refused the segmentation (not the destination), and the socket stops segmenting.
        var probe = -1
        var retriedMessage = -1
        while true {
            let wireCount = batch.planWire(from: start, to: end, segmenting: segmenting,
                                           maxSegmentSize: segmentSizeCeiling - 1)
            var index = 0
            var replan = false
            while index < wireCount && !replan {
                let n = ctun_sendmmsg_segmented(fd, batch.headers, batch.controls, batch.wireIovecs, batch.addresses,
                                                batch.addressLengths, batch.wire + index, UInt32(wireCount - index))
                if n > 0 {
                    for wireIndex in index..<index + Int(n) { markSent(batch, wire: wireIndex, probe: &probe) }
                    index += Int(n)
                    continue
                }
                let err = n == 0 ? EAGAIN : -n
                let segmented = batch.wire[index].segment_size > 0
                let first = batch.firstMember(ofWire: index)
                switch err {
                case EAGAIN, EWOULDBLOCK, ENOBUFS:
                    return batch.interruptSend(from: start, to: end)
                case ECONNREFUSED where retriedMessage != first:
                    // A stale ICMP error from an earlier datagram was reported (and cleared) instead of
                    // sending this one, so this message deserves one more try.
                    retriedMessage = first
                case EIO where segmented, EOPNOTSUPP where segmented, ENOPROTOOPT where segmented:
                    // No route to segmentation here (e.g. a device without checksum offload on older
                    // kernels): plain sends from now on.
                    stopSegmenting()
                    segmenting = false
                    replan = true
                case EINVAL where segmented:
                    segmenting = false
                    probe = first
                    replan = true
                case EMSGSIZE where segmented:
                    // The segment is larger than the path allows; plain sends may still fragment.
                    segmentSizeCeiling = min(segmentSizeCeiling, Int(batch.wire[index].segment_size))
                    replan = true
                case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EHOSTDOWN, ENETDOWN, EMSGSIZE, EACCES, EPERM,
                     EADDRNOTAVAIL, EAFNOSUPPORT, EINVAL:
                    for position in batch.memberRange(ofWire: index) {
                        let message = Int(batch.wireMembers[position])
                        batch.sent[message] = true
                        // The destination, not segmentation, was at fault.
                        if message == probe { probe = -1 }
                    }
                    counters.sendDropped &+= UInt64(batch.memberRange(ofWire: index).count)
                    counters.lastSendErrno = err
                    index += 1
                default:
                    throw IOError(.send, errno: err, operation: "sendmmsg on \(localAddress)")
                }
            }
            if !replan { return end - start }
        }
    }

    /// Records wire message `wire` as handed to the kernel; resolves a pending EINVAL probe.
    @inline(__always)
    private func markSent(_ batch: OutgoingBatch, wire: Int, probe: inout Int) {
        let members = batch.memberRange(ofWire: wire)
        for position in members {
            let message = Int(batch.wireMembers[position])
            batch.sent[message] = true
            if message == probe {
                probe = -1
                stopSegmenting()
            }
        }
        counters.sent &+= UInt64(members.count)
        if batch.wire[wire].segment_size > 0 {
            counters.segmentedSends &+= 1
            counters.segmentedDatagrams &+= UInt64(members.count)
        }
    }

    /// Goes back to plain sends for good after the kernel refused a segmented one.
    private func stopSegmenting() {
        guard usesSegmentedSends else { return }
        usesSegmentedSends = false
        counters.segmentationFallbacks &+= 1
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

extension UDPSocket {
    /// Makes the kernel steer each datagram arriving at this socket's reuse group to the socket of
    /// lane (the frame's lane byte modulo `lanes`), in the order the sockets were bound.
    public func steerByLane(lanes: Int) throws(IOError) {
        let rc = ctun_attach_lane_steering(fd, 2, UInt32(lanes))
        guard rc == 0 else { throw IOError(.socketOption, errno: -rc, operation: "setsockopt SO_ATTACH_REUSEPORT_CBPF") }
    }
}

extension UDPSocket: DatagramTransport {
    /// The socket's descriptor.
    public var pollDescriptor: Int32 { fd }

    /// The socket's tallies in the seam's terms.
    public var transportCounters: DatagramTransportCounters {
        var result = DatagramTransportCounters()
        result.received = counters.received
        result.receiveTruncated = counters.receiveTruncated
        result.sent = counters.sent
        result.sendRefused = counters.sendDropped
        result.segmentedSends = counters.segmentedSends
        result.coalescedReceives = counters.coalescedRuns
        result.segmentationFallbacks = counters.segmentationFallbacks
        return result
    }
}
