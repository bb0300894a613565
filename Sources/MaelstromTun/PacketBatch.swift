import MaelstromCore

/// A reusable set of packet slots for TUN reads, in one slab allocated once: each slot has
/// `headroom` bytes in front of the packet (a virtio-net header, the frame's envelope and header)
/// and `tailroom` behind it (an authentication tag), so frames are built around the packet in place.
///
/// Reading into it and looking at its packets allocates nothing. Confined to one thread (not
/// Sendable): it is the I/O thread's scratch memory.
public final class PacketBatch {
    /// Maximum number of packets.
    public let capacity: Int
    /// Largest packet a slot holds; larger ones are dropped as truncated by the device.
    public let slotSize: Int
    /// Writable bytes in front of each packet.
    public let headroom: Int
    /// Writable bytes after each packet's largest extent.
    public let tailroom: Int
    /// Number of packets currently held (slots `0..<count`).
    public var count: Int { _count }

    @usableFromInline var _count = 0
    @usableFromInline let slab: UnsafeMutableRawPointer
    @usableFromInline let stride: Int
    @usableFromInline let lengths: UnsafeMutablePointer<Int>

    /// Allocates `capacity` slots for packets of up to `slotSize` bytes with the room around them.
    public init(
        capacity: Int = 64, slotSize: Int = 65536, headroom: Int = PacketBuffer.standardHeadroom,
        tailroom: Int = PacketBuffer.standardTailroom
    ) {
        self.capacity = max(1, capacity)
        self.slotSize = max(1, slotSize)
        self.headroom = max(0, headroom)
        self.tailroom = max(0, tailroom)
        stride = (self.headroom + self.slotSize + self.tailroom + 63) & ~63
        slab = .allocate(byteCount: self.capacity * stride, alignment: 64)
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
        return UnsafeRawBufferPointer(start: slab + index * stride + headroom, count: lengths[index])
    }

    /// Packet `index` with the room around it, for the gateway to build its frame in place.
    @inlinable
    public func buffer(_ index: Int) -> PacketBuffer {
        precondition(index >= 0 && index < _count, "PacketBatch index out of range")
        let length = lengths[index]
        return PacketBuffer(
            bytes: UnsafeMutableRawBufferPointer(start: slab + index * stride + headroom, count: length),
            headroom: headroom, tailroom: stride - headroom - length)
    }

    /// The whole writable packet area of slot `index`, regardless of `count` (to read or build packets in).
    @inlinable
    public func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
        precondition(index >= 0 && index < capacity, "PacketBatch slot out of range")
        return UnsafeMutableRawBufferPointer(start: slab + index * stride + headroom, count: slotSize)
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

    /// Slots not yet filled.
    @inlinable
    public var freeSlots: Int { capacity - _count }

    /// Forgets all packets; the memory stays allocated.
    @inlinable
    public func removeAll() { _count = 0 }
}
