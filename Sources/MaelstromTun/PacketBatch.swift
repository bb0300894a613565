/// A reusable set of packet buffers for TUN reads: `capacity` slots of `slotSize` bytes in one slab.
///
/// Allocated once; reading into it and looking at its packets allocates nothing.
/// Confined to one thread (not Sendable): it is the I/O thread's scratch memory.
public final class PacketBatch {
    /// Maximum number of packets.
    public let capacity: Int
    /// Bytes per slot; larger packets are dropped as truncated by `TunDevice.readBatch`.
    public let slotSize: Int
    /// Number of packets currently held (slots `0..<count`).
    public var count: Int { _count }

    @usableFromInline var _count = 0
    @usableFromInline let slab: UnsafeMutableRawPointer
    @usableFromInline let lengths: UnsafeMutablePointer<Int>

    /// Allocates `capacity` slots of `slotSize` bytes (both at least 1; 65536 fits any IP packet).
    public init(capacity: Int = 64, slotSize: Int = 65536) {
        self.capacity = max(1, capacity)
        self.slotSize = max(1, slotSize)
        slab = .allocate(byteCount: self.capacity * self.slotSize, alignment: 64)
        lengths = .allocate(capacity: self.capacity)
        lengths.initialize(repeating: 0, count: self.capacity)
    }

    deinit {
        slab.deallocate()
        lengths.deallocate()
    }

    /// The bytes of packet `index` (valid until the batch is refilled).
    @inlinable
    public subscript(index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < _count, "PacketBatch index out of range")
        return UnsafeRawBufferPointer(start: slab + index * slotSize, count: lengths[index])
    }

    /// The whole writable slot `index`, regardless of `count` (to build packets in place).
    @inlinable
    public func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
        precondition(index >= 0 && index < capacity, "PacketBatch slot out of range")
        return UnsafeMutableRawBufferPointer(start: slab + index * slotSize, count: slotSize)
    }

    /// Appends the packet already written into `slot(count)`, `length` bytes long; false if full or too long.
    @inlinable
    @discardableResult
    public func commit(length: Int) -> Bool {
        guard _count < capacity, length >= 0, length <= slotSize else { return false }
        lengths[_count] = length
        _count += 1
        return true
    }

    /// Forgets all packets; the memory stays allocated.
    @inlinable
    public func removeAll() { _count = 0 }
}
