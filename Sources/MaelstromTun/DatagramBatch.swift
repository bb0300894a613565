import CTun
import Glibc

/// A reusable receive batch for `UDPSocket.receiveBatch`: `capacity` slots of `slotSize` bytes, plus
/// the iovecs, source addresses and `mmsghdr` scratch that `recvmmsg` needs, all allocated once.
///
/// Entries `0..<count` are the datagrams of the last receive; truncated datagrams are left out
/// (and counted in `truncatedCount`), so every entry is whole.
/// Confined to one thread (not Sendable).
public final class DatagramBatch {
    /// Maximum datagrams per receive (at most 1024, the kernel's limit per `recvmmsg`).
    public let capacity: Int
    /// Bytes per slot. 65536 holds any UDP datagram; smaller slots truncate (and drop) larger datagrams.
    public let slotSize: Int
    /// Number of whole datagrams from the last receive.
    public var count: Int { _count }
    /// Datagrams dropped as truncated during the last receive.
    public var truncatedCount: Int { _truncatedCount }

    @usableFromInline var _count = 0
    @usableFromInline var _truncatedCount = 0
    @usableFromInline let slab: UnsafeMutableRawPointer
    @usableFromInline let lengths: UnsafeMutablePointer<UInt32>
    @usableFromInline let addresses: UnsafeMutablePointer<sockaddr_storage>
    /// Maps entry index to slot index, so dropping a truncated datagram needs no copy.
    @usableFromInline let entrySlots: UnsafeMutablePointer<Int32>
    let iovecs: UnsafeMutablePointer<iovec>
    let truncated: UnsafeMutablePointer<UInt8>
    let headers: UnsafeMutableRawPointer

    /// Allocates `capacity` (1...1024) slots of `slotSize` (at least 1) bytes.
    public init(capacity: Int = 64, slotSize: Int = 65536) {
        self.capacity = min(max(1, capacity), 1024)
        self.slotSize = max(1, slotSize)
        let n = self.capacity
        slab = .allocate(byteCount: n * self.slotSize, alignment: 64)
        lengths = .allocate(capacity: n)
        lengths.initialize(repeating: 0, count: n)
        addresses = .allocate(capacity: n)
        addresses.initialize(repeating: sockaddr_storage(), count: n)
        entrySlots = .allocate(capacity: n)
        entrySlots.initialize(repeating: 0, count: n)
        truncated = .allocate(capacity: n)
        truncated.initialize(repeating: 0, count: n)
        iovecs = .allocate(capacity: n)
        for i in 0..<n {
            iovecs[i] = iovec(iov_base: slab + i * self.slotSize, iov_len: self.slotSize)
        }
        headers = .allocate(byteCount: n * ctun_mmsghdr_size(), alignment: 16)
    }

    deinit {
        slab.deallocate()
        lengths.deallocate()
        addresses.deallocate()
        entrySlots.deallocate()
        truncated.deallocate()
        iovecs.deallocate()
        headers.deallocate()
    }

    /// The payload of datagram `index` (valid until the next receive into this batch).
    @inlinable
    public subscript(index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(mutablePayload(at: index))
    }

    /// The payload of datagram `index`, writable so it can be decoded in place.
    @inlinable
    public func mutablePayload(at index: Int) -> UnsafeMutableRawBufferPointer {
        precondition(index >= 0 && index < _count, "DatagramBatch index out of range")
        let slot = Int(entrySlots[index])
        return UnsafeMutableRawBufferPointer(start: slab + slot * slotSize, count: Int(lengths[slot]))
    }

    /// The sender of datagram `index`; nil only if the kernel reported a non-IP family.
    @inlinable
    public func source(at index: Int) -> SocketAddress? {
        precondition(index >= 0 && index < _count, "DatagramBatch index out of range")
        return SocketAddress(storage: addresses + Int(entrySlots[index]))
    }

    /// Records a `recvmmsg` result of `received` slots, dropping the truncated ones.
    func commit(received: Int) {
        var kept = 0
        var dropped = 0
        for slot in 0..<received {
            if truncated[slot] != 0 {
                dropped += 1
            } else {
                entrySlots[kept] = Int32(slot)
                kept += 1
            }
        }
        _count = kept
        _truncatedCount = dropped
    }

    /// Empties the batch (before a receive, or after an error).
    func reset() {
        _count = 0
        _truncatedCount = 0
    }
}
