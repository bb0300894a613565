import CTun
import Glibc

/// A layer-3 TUN interface (`IFF_TUN | IFF_NO_PI`): each read or write is one bare IP packet.
///
/// The descriptor is nonblocking; wait for readability with `EventLoop`. TUN has no batch
/// syscalls, so `readBatch` loops `read` until EAGAIN. Confined to one thread (not Sendable).
/// The interface disappears when its last queue is closed.
public final class TunDevice {
    /// Tallies of packets the packet path dropped, read by the owning thread.
    public struct Counters: Sendable, Equatable {
        /// Packets longer than the buffer they were read into, dropped.
        public var readTruncated: UInt64 = 0
        /// Packets the kernel refused on write (malformed, interface down, no buffer space).
        public var writeDropped: UInt64 = 0
        /// The errno of the last refused write, 0 if none.
        public var lastWriteErrno: Int32 = 0
    }

    /// The interface name the kernel assigned (a `tun%d` template is resolved).
    public let name: String
    /// The descriptor (for `EventLoop.register`); -1 after `close()`.
    public private(set) var fd: Int32
    /// Drops so far.
    public private(set) var counters = Counters()
    /// readv vector: the caller's buffer, then one spare byte. The kernel clamps a TUN read's result to
    /// the buffer length and discards the rest, so a packet that reaches the spare byte was cut short.
    private let readVector: UnsafeMutablePointer<iovec>
    private let spareByte: UnsafeMutablePointer<UInt8>

    /// Creates (or attaches to) the TUN interface `name`, which must be shorter than 16 bytes.
    ///
    /// With `multiQueue`, every `TunDevice` opened with the same name is one more queue of the same
    /// interface, and the kernel spreads flows across them (one per I/O thread).
    public init(name: String, multiQueue: Bool = false) throws(IOError) {
        var actual = [CChar](repeating: 0, count: Int(CTUN_IFNAMSIZ))
        let fd = ctun_open(name, multiQueue ? 1 : 0, &actual)
        guard fd >= 0 else {
            throw IOError(.tunOpen, errno: -fd, operation: "open /dev/net/tun as \(name)")
        }
        self.fd = fd
        spareByte = .allocate(capacity: 1)
        spareByte.initialize(to: 0)
        readVector = .allocate(capacity: 2)
        readVector.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: 2)
        readVector[1] = iovec(iov_base: UnsafeMutableRawPointer(spareByte), iov_len: 1)
        self.name = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        close()
        readVector.deallocate()
        spareByte.deallocate()
    }

    /// Closes this queue; later calls fail with EBADF instead of touching a reused descriptor.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sets the interface MTU (SIOCSIFMTU).
    public func setMTU(_ mtu: Int) throws(IOError) {
        guard let value = Int32(exactly: mtu), value > 0 else {
            throw IOError(code: .invalidArgument, errno: EINVAL, message: "set MTU of \(name): \(mtu) is not a valid MTU")
        }
        let rc = ctun_set_mtu(name, value)
        guard rc == 0 else { throw IOError(.tunConfigure, errno: -rc, operation: "set MTU \(mtu) on \(name)") }
    }

    /// Brings the interface up (IFF_UP via SIOCSIFFLAGS).
    public func setUp() throws(IOError) {
        let rc = ctun_set_up(name)
        guard rc == 0 else { throw IOError(.tunConfigure, errno: -rc, operation: "set \(name) up") }
    }

    /// Reads one packet into `buffer` and returns its length, or nil when none is waiting.
    /// Packets longer than `buffer` are dropped (counted in `readTruncated`) and the next one is read.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> Int? {
        readVector[0] = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        while true {
            let n = readv(fd, readVector, 2)
            if n >= 0 {
                if n > buffer.count {
                    counters.readTruncated &+= 1
                    continue
                }
                return n
            }
            let err = errno
            switch err {
            case EAGAIN, EWOULDBLOCK:
                return nil
            case EINTR:
                continue
            default:
                throw IOError(.tunRead, errno: err, operation: "read from \(name)")
            }
        }
    }

    /// Reads packets into `batch` (emptied first) until it is full or none is waiting; returns the count.
    public func readBatch(into batch: PacketBatch) throws(IOError) -> Int {
        batch.removeAll()
        while batch.count < batch.capacity {
            guard let length = try read(into: batch.slot(batch.count)) else { break }
            batch.commit(length: length)
        }
        return batch.count
    }

    /// Writes one packet; returns false if the kernel refused this packet (counted in `writeDropped`).
    /// Throws only when the descriptor is unusable.
    @discardableResult
    public func write(_ packet: UnsafeRawBufferPointer) throws(IOError) -> Bool {
        while true {
            let n = Glibc.write(fd, packet.baseAddress, packet.count)
            if n >= 0 { return true }
            let err = errno
            switch err {
            case EINTR:
                continue
            case EBADF, EBADFD, EFAULT:
                throw IOError(.tunWrite, errno: err, operation: "write to \(name)")
            default:
                // EINVAL (not an IP packet), EIO (interface down), ENOBUFS, EAGAIN, ...
                counters.writeDropped &+= 1
                counters.lastWriteErrno = err
                return false
            }
        }
    }
}
