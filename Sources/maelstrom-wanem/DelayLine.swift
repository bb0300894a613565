/// The packets in flight on the emulated link, held in preallocated slots until their departure time.
///
/// Two slabs: many 2048-byte slots for ordinary packets and a few MTU-sized ones for jumbo packets, so
/// a long fat link fits in memory without reserving 9000 bytes for every 1400-byte packet. A binary
/// min-heap orders the slots by departure, ties broken by arrival, which is O(1) for the usual
/// monotonic departures and still correct when jitter may reorder. Nothing is allocated after `init`.
/// Confined to the packet loop's thread (not Sendable).
final class DelayLine {
    /// One packet in flight: 24 bytes in the heap array.
    private struct Entry {
        var departure: UInt64
        var sequence: UInt64
        var slot: Int32
        var length: Int32

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            departure != other.departure ? departure < other.departure : sequence < other.sequence
        }
    }

    /// Bytes per ordinary slot: any packet up to a 1500-byte MTU plus headroom.
    static let smallSlotSize = 2048

    /// Ordinary slots.
    let smallSlots: Int
    /// Jumbo slots.
    let largeSlots: Int
    /// Bytes per jumbo slot: the largest packet held.
    let largeSlotSize: Int
    /// Packets held now.
    var count: Int { heapCount }

    private let smallSlab: UnsafeMutableRawPointer
    private let largeSlab: UnsafeMutableRawPointer
    private let freeSmall: UnsafeMutablePointer<Int32>
    private var freeSmallCount: Int
    private let freeLarge: UnsafeMutablePointer<Int32>
    private var freeLargeCount: Int
    private let heap: UnsafeMutablePointer<Entry>
    private var heapCount = 0
    private var nextSequence: UInt64 = 0

    /// Reserves `smallSlots` 2048-byte slots and `largeSlots` slots of `largeSlotSize` bytes.
    ///
    /// The slabs are reserved, not touched: the kernel backs only the pages a busy link really uses.
    init(smallSlots: Int, largeSlots: Int, largeSlotSize: Int) {
        self.smallSlots = max(1, smallSlots)
        self.largeSlots = max(1, largeSlots)
        self.largeSlotSize = max(Self.smallSlotSize, (largeSlotSize + 63) & ~63)
        smallSlab = .allocate(byteCount: self.smallSlots * Self.smallSlotSize, alignment: 64)
        largeSlab = .allocate(byteCount: self.largeSlots * self.largeSlotSize, alignment: 64)
        freeSmall = .allocate(capacity: self.smallSlots)
        freeLarge = .allocate(capacity: self.largeSlots)
        // Hand out low slots first, so a lightly used line stays in few pages.
        for i in 0..<self.smallSlots { (freeSmall + i).initialize(to: Int32(self.smallSlots - 1 - i)) }
        for i in 0..<self.largeSlots { (freeLarge + i).initialize(to: Int32(self.largeSlots - 1 - i)) }
        freeSmallCount = self.smallSlots
        freeLargeCount = self.largeSlots
        heap = .allocate(capacity: self.smallSlots + self.largeSlots)
    }

    deinit {
        smallSlab.deallocate()
        largeSlab.deallocate()
        freeSmall.deallocate()
        freeLarge.deallocate()
        heap.deallocate()
    }

    /// The outcome of `hold`.
    enum HoldResult {
        /// The packet is held.
        case held
        /// No free slot of the size it needs: the line is full.
        case full
        /// Longer than the largest slot.
        case oversize
    }

    /// Copies `packet` into a free slot to leave at `departure`.
    @inline(__always)
    func hold(_ packet: UnsafeRawBufferPointer, departure: UInt64) -> HoldResult {
        let length = packet.count
        let slot: Int32
        let destination: UnsafeMutableRawPointer
        if length <= Self.smallSlotSize {
            guard freeSmallCount > 0 else { return .full }
            freeSmallCount -= 1
            let index = freeSmall[freeSmallCount]
            slot = index
            destination = smallSlab + Int(index) * Self.smallSlotSize
        } else if length <= largeSlotSize {
            guard freeLargeCount > 0 else { return .full }
            freeLargeCount -= 1
            let index = freeLarge[freeLargeCount]
            slot = Int32(smallSlots) + index
            destination = largeSlab + Int(index) * largeSlotSize
        } else {
            return .oversize
        }
        if length > 0, let source = packet.baseAddress {
            destination.copyMemory(from: source, byteCount: length)
        }
        push(Entry(departure: departure, sequence: nextSequence, slot: slot, length: Int32(length)))
        nextSequence &+= 1
        return .held
    }

    /// The earliest departure held, or `UInt64.max` when the line is empty.
    @inline(__always)
    var nextDeparture: UInt64 { heapCount > 0 ? heap[0].departure : .max }

    /// The bytes of the earliest packet; valid until `release()`. The line must not be empty.
    @inline(__always)
    func front() -> UnsafeRawBufferPointer {
        precondition(heapCount > 0, "DelayLine.front on an empty line")
        let entry = heap[0]
        return UnsafeRawBufferPointer(start: address(of: entry.slot), count: Int(entry.length))
    }

    /// Frees the earliest packet's slot and removes it from the line.
    @inline(__always)
    func release() {
        precondition(heapCount > 0, "DelayLine.release on an empty line")
        let slot = heap[0].slot
        if Int(slot) < smallSlots {
            freeSmall[freeSmallCount] = slot
            freeSmallCount += 1
        } else {
            freeLarge[freeLargeCount] = slot - Int32(smallSlots)
            freeLargeCount += 1
        }
        heapCount -= 1
        if heapCount > 0 {
            heap[0] = heap[heapCount]
            siftDown()
        }
    }

    @inline(__always)
    private func address(of slot: Int32) -> UnsafeRawPointer {
        Int(slot) < smallSlots
            ? UnsafeRawPointer(smallSlab + Int(slot) * Self.smallSlotSize)
            : UnsafeRawPointer(largeSlab + (Int(slot) - smallSlots) * largeSlotSize)
    }

    @inline(__always)
    private func push(_ entry: Entry) {
        var child = heapCount
        heapCount += 1
        // Monotonic departures stop at the first comparison, so the common case is O(1).
        while child > 0 {
            let parent = (child - 1) / 2
            guard entry.precedes(heap[parent]) else { break }
            heap[child] = heap[parent]
            child = parent
        }
        (heap + child).initialize(to: entry)
    }

    private func siftDown() {
        let entry = heap[0]
        var parent = 0
        while true {
            var child = 2 * parent + 1
            guard child < heapCount else { break }
            if child + 1 < heapCount, heap[child + 1].precedes(heap[child]) { child += 1 }
            guard heap[child].precedes(entry) else { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = entry
    }
}
