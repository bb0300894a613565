import CTun
import Glibc

/// A reusable send batch for `UDPSocket.sendBatch`: each message is a small header copied into the
/// batch's own slab followed by a payload that stays where it is (zero-copy for data frames).
///
/// The batch keeps only the payload's *pointer*: the payload memory must stay valid and unchanged
/// until the batch has been sent or cleared. Confined to one thread (not Sendable).
public final class OutgoingBatch {
    /// Maximum messages (at most 1024, the kernel's limit per `sendmmsg`).
    public let capacity: Int
    /// Maximum header bytes per message.
    public let headerCapacity: Int
    /// Number of messages queued.
    public var count: Int { _count }
    /// True when no further message fits.
    public var isFull: Bool { _count == capacity }

    @usableFromInline var _count = 0
    @usableFromInline let headerSlab: UnsafeMutableRawPointer
    /// Two per message: header slot, then payload.
    @usableFromInline let iovecs: UnsafeMutablePointer<iovec>
    @usableFromInline let addresses: UnsafeMutablePointer<sockaddr_storage>
    @usableFromInline let addressLengths: UnsafeMutablePointer<UInt32>
    let headers: UnsafeMutableRawPointer

    /// Allocates room for `capacity` (1...1024) messages with headers of up to `headerCapacity` bytes.
    public init(capacity: Int = 64, headerCapacity: Int = 128) {
        self.capacity = min(max(1, capacity), 1024)
        self.headerCapacity = max(0, headerCapacity)
        let n = self.capacity
        headerSlab = .allocate(byteCount: max(1, n * self.headerCapacity), alignment: 64)
        iovecs = .allocate(capacity: 2 * n)
        iovecs.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: 2 * n)
        addresses = .allocate(capacity: n)
        addresses.initialize(repeating: sockaddr_storage(), count: n)
        addressLengths = .allocate(capacity: n)
        addressLengths.initialize(repeating: 0, count: n)
        headers = .allocate(byteCount: n * ctun_mmsghdr_size(), alignment: 16)
    }

    deinit {
        headerSlab.deallocate()
        iovecs.deallocate()
        addresses.deallocate()
        addressLengths.deallocate()
        headers.deallocate()
    }

    /// Queues `header` (copied) + `payload` (referenced, not copied) to `destination`.
    /// Returns false, queuing nothing, if the batch is full or the header exceeds `headerCapacity`.
    @inlinable
    @discardableResult
    public func append(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer,
                       to destination: SocketAddress) -> Bool {
        append(to: destination, payload: payload) { slot in
            guard header.count <= slot.count else { return -1 }
            slot.copyMemory(from: header)
            return header.count
        }
    }

    /// Queues a message whose header `writeHeader` builds in place in the batch's header slot; it
    /// returns the header length, or a negative value to cancel. `payload` is referenced, not copied.
    /// Returns false, queuing nothing, if the batch is full or the header was cancelled or too long.
    @inlinable
    @discardableResult
    public func append(to destination: SocketAddress, payload: UnsafeRawBufferPointer,
                       writeHeader: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
        guard _count < capacity else { return false }
        let index = _count
        let headerSlot = headerSlab + index * headerCapacity
        let headerLength = writeHeader(UnsafeMutableRawBufferPointer(start: headerSlot, count: headerCapacity))
        guard headerLength >= 0, headerLength <= headerCapacity else { return false }
        iovecs[2 * index] = iovec(iov_base: headerSlot, iov_len: headerLength)
        iovecs[2 * index + 1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress),
                                      iov_len: payload.count)
        addressLengths[index] = UInt32(destination.write(to: addresses + index))
        _count = index + 1
        return true
    }

    /// Forgets all queued messages (and the payload pointers); the memory stays allocated.
    @inlinable
    public func removeAll() { _count = 0 }
}
