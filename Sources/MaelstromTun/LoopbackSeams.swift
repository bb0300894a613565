import MaelstromCore

/// Allocation-free in-memory seams for measuring the data-plane loop without the kernel: a
/// device that hands out the segments of TCP super-segments (split as a TUN device with TSO
/// would), a device that takes packets and coalesces them (as a TUN device with GRO-style writes
/// would, minus the system call), and a one-way link of datagram slots between two loops.
/// `maelstromd bench dataplane` runs a pair of lane loops over them on each lane's thread.

/// An endless source of TCP segments: one 64 KB super-segment, split again and again with
/// advancing sequence numbers.
public final class SuperSegmentSource: PacketDevice {
    private let superSegment: UnsafeMutableRawBufferPointer
    private let plan: SegmentSplitter.Plan
    private var next = 0
    private var sequence: UInt32 = 1
    /// What was read.
    public private(set) var deviceCounters = PacketDeviceCounters()

    /// A source of segments of `mss` payload bytes from 10.1.0.2 to 10.2.0.2.
    public init(mss: Int) {
        let ipLength = 20
        let tcpLength = 20
        let segments = 65_000 / mss
        let payload = segments * mss
        let total = ipLength + tcpLength + payload
        superSegment = .allocate(byteCount: total, alignment: 64)
        let base = superSegment.baseAddress!
        base.initializeMemory(as: UInt8.self, repeating: 0, count: total)
        for index in 0..<payload { base.storeBytes(of: UInt8(truncatingIfNeeded: index &* 31), toByteOffset: 40 + index, as: UInt8.self) }
        // IPv4: version/IHL, total length, ID, DF, TTL, TCP, addresses 10.1.0.2 → 10.2.0.2.
        base.storeBytes(of: 0x45, as: UInt8.self)
        base.storeBigEndian(UInt16(total), at: 2)
        base.storeBytes(of: 0x40, toByteOffset: 6, as: UInt8.self)
        base.storeBytes(of: 64, toByteOffset: 8, as: UInt8.self)
        base.storeBytes(of: 6, toByteOffset: 9, as: UInt8.self)
        base.storeBigEndian(UInt32(0x0A01_0002), at: 12)
        base.storeBigEndian(UInt32(0x0A02_0002), at: 16)
        // TCP: ports, data offset 5, ACK.
        base.storeBigEndian(UInt16(40001), at: 20)
        base.storeBigEndian(UInt16(5201), at: 22)
        base.storeBytes(of: 0x50, toByteOffset: 32, as: UInt8.self)
        base.storeBytes(of: 0x10, toByteOffset: 33, as: UInt8.self)
        base.storeBigEndian(UInt16(3000), at: 34)
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksum, gsoType: .tcpv4, headerLength: 40, gsoSize: UInt16(mss), checksumStart: 20,
            checksumOffset: 16)
        plan = SegmentSplitter.plan(UnsafeRawBufferPointer(superSegment), header: header)!
    }

    deinit { superSegment.deallocate() }

    /// Not a file.
    public var pollDescriptor: Int32 { -1 }

    /// Fills the batch with the next segments, as a TUN read and split would.
    public func readBatch(into batch: PacketBatch) throws(IOError) -> Int {
        batch.removeAll()
        while batch.freeSlots > 0 {
            if next == 0 {
                superSegment.baseAddress!.storeBigEndian(sequence, at: 24)
                sequence &+= UInt32(plan.payloadLength)
                deviceCounters.superSegmentsRead &+= 1
            }
            let written = SegmentSplitter.writeSegment(next, of: UnsafeRawBufferPointer(superSegment), plan: plan, into: batch.slot(batch.count).baseAddress!)
            batch.commit(length: written)
            next = next + 1 == plan.segments ? 0 : next + 1
        }
        deviceCounters.packetsRead &+= UInt64(batch.count)
        return batch.count
    }

    /// The source takes no packets back.
    public func enqueueWrite(_ packet: UnsafeRawBufferPointer) {}
    /// Nothing to write.
    public func flushWrites() throws(IOError) {}
}

/// A device that takes packets: coalesces them into the writes a TUN device with GRO-style
/// writes would make, and counts them, with no system call.
public final class CoalescingSink: PacketDevice {
    private let coalescer: SegmentCoalescer
    private let headers: UnsafeMutableRawPointer
    /// What was written.
    public private(set) var deviceCounters = PacketDeviceCounters()
    /// Payload bytes taken.
    public private(set) var bytes: UInt64 = 0

    /// A sink planning up to `queue` packets per flush.
    public init(queue: Int = 512) {
        coalescer = SegmentCoalescer(capacity: queue)
        headers = .allocate(byteCount: 256, alignment: 64)
    }

    deinit { headers.deallocate() }

    /// Not a file.
    public var pollDescriptor: Int32 { -1 }
    /// Never has anything to read.
    public func readBatch(into batch: PacketBatch) throws(IOError) -> Int {
        batch.removeAll()
        return 0
    }

    /// Queues a packet for coalescing.
    public func enqueueWrite(_ packet: UnsafeRawBufferPointer) {
        if coalescer.isFull { flush() }
        coalescer.add(packet)
        bytes &+= UInt64(packet.count)
    }

    /// Plans the writes and builds their headers, as the TUN device does before `writev`.
    public func flushWrites() throws(IOError) { flush() }

    private func flush() {
        for index in 0..<coalescer.groupTotal {
            let group = coalescer.group(index)
            if group.count > 1 {
                _ = coalescer.writeHeaders(of: group, into: headers)
                deviceCounters.coalescedWrites &+= 1
            }
            deviceCounters.packetsWritten &+= UInt64(group.count)
        }
        coalescer.reset()
    }
}

/// A one-way link: what one loop's transport sends, the other's receives, through a ring of
/// datagram slots (a copy in and a copy out, as the kernel makes). Both ends on one thread.
public final class LoopbackLink {
    let slots: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<Int>
    let capacity: Int
    let slotSize: Int
    var head = 0
    var tail = 0

    /// A link holding up to `capacity` datagrams of up to `slotSize` bytes.
    public init(capacity: Int = 1024, slotSize: Int = 2048) {
        self.capacity = capacity
        self.slotSize = slotSize
        slots = .allocate(byteCount: capacity * slotSize, alignment: 64)
        slots.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * slotSize)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
    }

    deinit {
        slots.deallocate()
        lengths.deallocate()
    }

    var count: Int { tail - head }
}

/// The sending end of a `LoopbackLink`, as a transport (it receives nothing).
public final class LoopbackSender: DatagramTransport {
    private let link: LoopbackLink
    /// What was sent.
    public private(set) var transportCounters = DatagramTransportCounters()

    /// Sends into `link`.
    public init(link: LoopbackLink) { self.link = link }

    /// Not a file.
    public var pollDescriptor: Int32 { -1 }
    /// Nothing arrives at the sending end.
    public func receiveBatch(into batch: DatagramBatch) throws(IOError) -> Int {
        batch.beginFilling()
        return 0
    }

    /// Copies the batch's messages into the link while it has room.
    public func sendBatch(_ batch: OutgoingBatch, from start: Int) throws(IOError) -> Int {
        var index = start
        while index < batch.count && link.count < link.capacity {
            let message = batch.message(at: index)
            let total = message.header.count + message.payload.count
            if total <= link.slotSize {
                let slot = link.slots + (link.tail % link.capacity) * link.slotSize
                if let header = message.header.baseAddress { slot.copyMemory(from: header, byteCount: message.header.count) }
                if let payload = message.payload.baseAddress { (slot + message.header.count).copyMemory(from: payload, byteCount: message.payload.count) }
                link.lengths[link.tail % link.capacity] = total
                link.tail += 1
                transportCounters.sent &+= 1
            } else {
                transportCounters.sendRefused &+= 1
            }
            index += 1
        }
        return index - start
    }
}

/// The receiving end of a `LoopbackLink`, as a transport (it sends nothing anywhere).
public final class LoopbackReceiver: DatagramTransport {
    private let link: LoopbackLink
    private let source: SocketAddress
    /// What was received.
    public private(set) var transportCounters = DatagramTransportCounters()

    /// Receives from `link`, every datagram from `source`.
    public init(link: LoopbackLink, source: SocketAddress) {
        self.link = link
        self.source = source
    }

    /// Not a file.
    public var pollDescriptor: Int32 { -1 }
    /// Whether datagrams are waiting.
    public var hasDatagrams: Bool { link.count > 0 }

    /// Moves waiting datagrams into the batch.
    public func receiveBatch(into batch: DatagramBatch) throws(IOError) -> Int {
        batch.beginFilling()
        while link.count > 0 && batch.count < batch.capacity {
            let index = link.head % link.capacity
            batch.append(UnsafeRawBufferPointer(start: link.slots + index * link.slotSize, count: link.lengths[index]), from: source)
            link.head += 1
        }
        transportCounters.received &+= UInt64(batch.count)
        return batch.count
    }

    /// The receiving end drops what its gateway sends (keepalive answers).
    public func sendBatch(_ batch: OutgoingBatch, from start: Int) throws(IOError) -> Int { batch.count - start }
}

/// Readiness for benchmark loops: a source is always readable; a receiver when its link has datagrams.
public final class LoopbackWaiter: ReadinessWaiter {
    private let receiver: LoopbackReceiver?
    private let sourceReady: Bool

    /// For the sending loop (its device always has packets) or the receiving loop (its link).
    public init(sourceReady: Bool, receiver: LoopbackReceiver?) {
        self.sourceReady = sourceReady
        self.receiver = receiver
    }

    /// Reports at once.
    public func wait(timeoutNanoseconds: UInt64, transportWritable: Bool) throws(IOError) -> Readiness {
        var ready: Readiness = transportWritable ? [.transportWritable] : []
        if sourceReady && !transportWritable { ready.insert(.deviceReadable) }
        if receiver?.hasDatagrams == true { ready.insert(.transportReadable) }
        return ready
    }
}
