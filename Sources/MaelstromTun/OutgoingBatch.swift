import CTun
import Glibc

/// A reusable send batch for `UDPSocket.sendBatch`: each message is a small header copied into the
/// batch's own slab followed by a payload that stays where it is (zero-copy for data frames).
///
/// The batch keeps only the payload's *pointer*: the payload memory must stay valid and unchanged
/// until the batch has been sent or cleared. Confined to one thread (not Sendable).
///
/// It also owns the scratch that `sendBatch` needs to group messages for segmented sends
/// (`UDP_SEGMENT`), sized once for `capacity` messages, so sending allocates nothing.
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
    /// Where an interrupted `sendBatch` stopped (the end of its returned prefix), -1 when none. A call
    /// resuming exactly there skips the messages that call already sent out of order (`sent`); any
    /// change to the batch voids it, so a stale mark never suppresses a message.
    @usableFromInline var resumeIndex = -1
    @usableFromInline let headerSlab: UnsafeMutableRawPointer
    /// Two per message: header slot, then payload.
    @usableFromInline let iovecs: UnsafeMutablePointer<iovec>
    @usableFromInline let addresses: UnsafeMutablePointer<sockaddr_storage>
    @usableFromInline let addressLengths: UnsafeMutablePointer<UInt32>
    let headers: UnsafeMutableRawPointer

    // Send scratch (see OutgoingBatch+Segmentation.swift). Per message: whether the current send has
    // handed it to the kernel (or dropped it), and whether the plan being built has placed it. The
    // unsent messages in batch order with their lengths. The wire layout: messages in send order,
    // their iovecs gathered back to back, and one `ctun_wire_message` and one cmsg buffer per
    // message on the wire.
    let sent: UnsafeMutablePointer<Bool>
    let placed: UnsafeMutablePointer<Bool>
    let pending: UnsafeMutablePointer<Int32>
    let pendingLengths: UnsafeMutablePointer<Int32>
    let wire: UnsafeMutablePointer<ctun_wire_message>
    let wireMembers: UnsafeMutablePointer<Int32>
    let wireIovecs: UnsafeMutablePointer<iovec>
    let controls: UnsafeMutableRawPointer

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

        sent = .allocate(capacity: n)
        sent.initialize(repeating: false, count: n)
        placed = .allocate(capacity: n)
        placed.initialize(repeating: false, count: n)
        pending = .allocate(capacity: n)
        pending.initialize(repeating: 0, count: n)
        pendingLengths = .allocate(capacity: n)
        pendingLengths.initialize(repeating: 0, count: n)
        wire = .allocate(capacity: n)
        wire.initialize(repeating: ctun_wire_message(), count: n)
        wireMembers = .allocate(capacity: n)
        wireMembers.initialize(repeating: 0, count: n)
        wireIovecs = .allocate(capacity: 2 * n)
        wireIovecs.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: 2 * n)
        controls = .allocate(byteCount: n * ctun_segment_cmsg_space(), alignment: 16)
    }

    deinit {
        headerSlab.deallocate()
        iovecs.deallocate()
        addresses.deallocate()
        addressLengths.deallocate()
        headers.deallocate()
        sent.deallocate()
        placed.deallocate()
        pending.deallocate()
        pendingLengths.deallocate()
        wire.deallocate()
        wireMembers.deallocate()
        wireIovecs.deallocate()
        controls.deallocate()
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
        resumeIndex = -1
        return true
    }

    /// Message `index` as queued: its header bytes, its payload and where it goes (for in-memory
    /// transports and tests; valid until the batch changes).
    public func message(at index: Int) -> (header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, destination: SocketAddress?) {
        precondition(index >= 0 && index < _count, "OutgoingBatch index out of range")
        let header = UnsafeRawBufferPointer(start: iovecs[2 * index].iov_base, count: iovecs[2 * index].iov_len)
        let payload = UnsafeRawBufferPointer(start: iovecs[2 * index + 1].iov_base, count: iovecs[2 * index + 1].iov_len)
        return (header, payload, SocketAddress(storage: addresses + index))
    }

    /// Forgets all queued messages (and the payload pointers); the memory stays allocated.
    @inlinable
    public func removeAll() {
        _count = 0
        resumeIndex = -1
    }
}
