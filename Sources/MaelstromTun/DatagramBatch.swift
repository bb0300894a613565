import CTun
import Glibc

/// A reusable receive batch for `UDPSocket.receiveBatch`: `capacity` slots of `slotSize` bytes, plus
/// the iovecs, source addresses and `mmsghdr` scratch that `recvmmsg` needs, all allocated once.
///
/// Entries `0..<count` are the datagrams of the last receive; truncated datagrams are left out
/// (and counted in `truncatedCount`), so every entry is whole. When the socket coalesces receives
/// (`UDP_GRO`), one receive slot can hold a run of equal-size datagrams from one sender: the batch
/// then receives into 64 KiB slots of its own, lists each datagram of a run as its own entry, and
/// asks for as many slots as make about `capacity` datagrams.
/// Confined to one thread (not Sendable).
public final class DatagramBatch {
    /// Datagrams per receive (at most 1024, the kernel's limit per `recvmmsg`). With coalescing this
    /// is a target: slots hold runs of datagrams, so `count` may exceed it.
    public let capacity: Int
    /// Largest datagram kept, in bytes. 65536 holds any UDP datagram; larger ones are dropped as
    /// truncated, whether the kernel cut them or they arrived whole inside a coalesced run.
    public let slotSize: Int
    /// Number of whole datagrams from the last receive.
    public var count: Int { _count }
    /// Datagrams dropped as truncated during the last receive.
    public var truncatedCount: Int { _truncatedCount }

    /// One datagram of the last receive: where its bytes are and which receive slot (source) it came from.
    @usableFromInline
    struct Entry {
        @usableFromInline var base: UnsafeMutableRawPointer?
        @usableFromInline var length: Int32
        @usableFromInline var slot: Int32

        @usableFromInline
        init(base: UnsafeMutableRawPointer?, length: Int32, slot: Int32) {
            self.base = base
            self.length = length
            self.slot = slot
        }
    }

    @usableFromInline var _count = 0
    @usableFromInline var _truncatedCount = 0
    @usableFromInline let addresses: UnsafeMutablePointer<sockaddr_storage>
    /// Entries of the last receive; reallocated once, larger, when coalesced receiving starts.
    @usableFromInline var entries: UnsafeMutablePointer<Entry>
    private(set) var entryCapacity: Int
    /// Runs (slots holding more than one datagram) in the last receive, and the datagrams they held.
    private(set) var coalescedRuns = 0
    private(set) var coalescedDatagrams = 0

    let slab: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<UInt32>
    let iovecs: UnsafeMutablePointer<iovec>
    let truncated: UnsafeMutablePointer<UInt8>
    let headers: UnsafeMutableRawPointer
    /// Per receive slot: the run's segment size (0 for a plain datagram) and room for its cmsg.
    let segmentSizes: UnsafeMutablePointer<UInt32>
    let controls: UnsafeMutableRawPointer

    /// Slots used when coalescing: 64 KiB each, since a run is cut short (and lost) if it does not fit.
    let coalescingSlotCount: Int
    /// Slots the next coalescing receive asks for: enough for about `capacity` datagrams at the
    /// datagrams-per-slot of the last receive. Callers bound their work per receive in batches
    /// (the data plane looks at its other side after a few); 64 runs of 40+ datagrams each would
    /// make one batch dozens of times larger than it was without coalescing.
    private(set) var coalescingSlotsWanted: Int
    private(set) var coalescingSlab: UnsafeMutableRawPointer?
    private(set) var coalescingIovecs: UnsafeMutablePointer<iovec>?
    /// Datagrams one run can hold: the kernel builds runs of at most 64 (GRO) or 128 (a local
    /// segmented send since 6.x) datagrams.
    static let maxRunDatagrams = 128
    static let coalescedSlotBytes = Int(CTUN_UDP_COALESCED_SLOT_BYTES)
    /// At most 64 slots (4 MiB, touched only as far as data lands) when the batch's own slots are smaller.
    static let maxOwnCoalescingSlots = 64

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
        entries = .allocate(capacity: n)
        entries.initialize(repeating: Entry(base: nil, length: 0, slot: 0), count: n)
        entryCapacity = n
        truncated = .allocate(capacity: n)
        truncated.initialize(repeating: 0, count: n)
        iovecs = .allocate(capacity: n)
        for i in 0..<n {
            iovecs[i] = iovec(iov_base: slab + i * self.slotSize, iov_len: self.slotSize)
        }
        headers = .allocate(byteCount: n * ctun_mmsghdr_size(), alignment: 16)
        segmentSizes = .allocate(capacity: n)
        segmentSizes.initialize(repeating: 0, count: n)
        controls = .allocate(byteCount: n * ctun_gro_cmsg_space(), alignment: 16)
        coalescingSlotCount = self.slotSize >= Self.coalescedSlotBytes ? n : min(n, Self.maxOwnCoalescingSlots)
        coalescingSlotsWanted = coalescingSlotCount
    }

    deinit {
        if let coalescingSlab, coalescingSlab != slab { coalescingSlab.deallocate() }
        if let coalescingIovecs, coalescingIovecs != iovecs { coalescingIovecs.deallocate() }
        slab.deallocate()
        lengths.deallocate()
        addresses.deallocate()
        entries.deallocate()
        truncated.deallocate()
        iovecs.deallocate()
        headers.deallocate()
        segmentSizes.deallocate()
        controls.deallocate()
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
        let entry = entries[index]
        return UnsafeMutableRawBufferPointer(start: entry.base, count: Int(entry.length))
    }

    /// The sender of datagram `index`; nil only if the kernel reported a non-IP family.
    @inlinable
    public func source(at index: Int) -> SocketAddress? {
        precondition(index >= 0 && index < _count, "DatagramBatch index out of range")
        return SocketAddress(storage: addresses + Int(entries[index].slot))
    }

    /// Empties the batch for an in-memory transport, which then `append`s what it received.
    public func beginFilling() { reset() }

    /// Appends one received datagram and its sender (in-memory transports); false when the batch
    /// is full or the datagram is larger than a slot.
    @discardableResult
    public func append(_ datagram: UnsafeRawBufferPointer, from source: SocketAddress) -> Bool {
        let index = _count
        guard index < capacity, datagram.count <= slotSize else { return false }
        let slot = slab + index * slotSize
        if let bytes = datagram.baseAddress { slot.copyMemory(from: bytes, byteCount: datagram.count) }
        _ = source.write(to: addresses + index)
        entries[index] = Entry(base: slot, length: Int32(datagram.count), slot: Int32(index))
        _count = index + 1
        return true
    }

    /// Records a plain `recvmmsg` result of `received` slots, dropping the truncated ones.
    func commit(received: Int) {
        var kept = 0
        var dropped = 0
        for slot in 0..<received {
            if truncated[slot] != 0 {
                dropped += 1
            } else {
                entries[kept] = Entry(base: slab + slot * slotSize, length: Int32(lengths[slot]), slot: Int32(slot))
                kept += 1
            }
        }
        _count = kept
        _truncatedCount = dropped
    }

    /// Makes the 64 KiB slots and the larger entry table a coalescing receive needs; a no-op after
    /// the first call, so the receive path allocates once per batch, not per call.
    func prepareCoalescing() {
        guard coalescingIovecs == nil else { return }
        let n = coalescingSlotCount
        if slotSize >= Self.coalescedSlotBytes {
            // The batch's own slots already fit any run.
            coalescingSlab = slab
            coalescingIovecs = iovecs
        } else {
            let big = UnsafeMutableRawPointer.allocate(byteCount: n * Self.coalescedSlotBytes, alignment: 64)
            let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: n)
            for i in 0..<n {
                vectors[i] = iovec(iov_base: big + i * Self.coalescedSlotBytes, iov_len: Self.coalescedSlotBytes)
            }
            coalescingSlab = big
            coalescingIovecs = vectors
        }
        let needed = max(capacity, n * Self.maxRunDatagrams)
        if needed > entryCapacity {
            entries.deallocate()
            entries = .allocate(capacity: needed)
            entries.initialize(repeating: Entry(base: nil, length: 0, slot: 0), count: needed)
            entryCapacity = needed
        }
    }

    /// Records a coalescing `recvmmsg` result of `received` slots: each run becomes one entry per
    /// datagram (the last may be shorter), all with the run's source. Datagrams longer than
    /// `slotSize`, and truncated slots, are dropped and counted.
    func commitCoalesced(received: Int) {
        guard let base = coalescingSlab else { return reset() }
        var kept = 0
        var dropped = 0
        var runs = 0
        var runDatagrams = 0
        for slot in 0..<received {
            if truncated[slot] != 0 {
                dropped += 1
                continue
            }
            let start = base + slot * Self.coalescedSlotBytes
            let length = Int(lengths[slot])
            let segment = Int(segmentSizes[slot])
            if segment == 0 || segment >= length {
                if length > slotSize || kept == entryCapacity {
                    dropped += 1
                } else {
                    entries[kept] = Entry(base: start, length: Int32(length), slot: Int32(slot))
                    kept += 1
                }
                continue
            }
            runs += 1
            var offset = 0
            while offset < length {
                let piece = min(segment, length - offset)
                if piece > slotSize || kept == entryCapacity {
                    dropped += 1
                } else {
                    entries[kept] = Entry(base: start + offset, length: Int32(piece), slot: Int32(slot))
                    kept += 1
                    runDatagrams += 1
                }
                offset += piece
            }
        }
        _count = kept
        _truncatedCount = dropped
        coalescedRuns = runs
        coalescedDatagrams = runDatagrams
        if received > 0 {
            let perSlot = max(1, (kept + dropped) / received)
            coalescingSlotsWanted = min(coalescingSlotCount, max(1, (capacity + perSlot - 1) / perSlot))
        }
    }

    /// Empties the batch (before a receive, or after an error).
    func reset() {
        _count = 0
        _truncatedCount = 0
        coalescedRuns = 0
        coalescedDatagrams = 0
    }
}
