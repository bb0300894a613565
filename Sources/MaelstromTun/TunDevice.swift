import CTun
import Glibc
import MaelstromCore

/// Which offloads a TUN queue runs with (they are the device's: every queue has the same).
public struct TunOffloads: Sendable, Equatable, CustomStringConvertible {
    /// Reads and writes carry a virtio-net header.
    public var virtioHeader = false
    /// The kernel hands over TCP super-segments (TSO) and takes coalesced ones (GRO-style writes).
    public var tcpSegmentation = false
    /// The kernel hands over UDP super-segments (USO, Linux 6.2+).
    public var udpSegmentation = false

    /// None: one packet per read and per write.
    public init() {}

    /// Bits for the metrics: 1 virtio header, 2 TSO, 4 USO.
    public var bits: UInt64 {
        (virtioHeader ? 1 : 0) | (tcpSegmentation ? 2 : 0) | (udpSegmentation ? 4 : 0)
    }

    /// `TSO on, USO off`, or `off`.
    public var description: String {
        guard virtioHeader else { return "off" }
        return "TSO \(tcpSegmentation ? "on" : "off"), USO \(udpSegmentation ? "on" : "off")"
    }
}

/// A queue of a layer-3 TUN interface (`IFF_TUN | IFF_NO_PI`), as a batch-first `PacketDevice`.
///
/// With offloads (`IFF_VNET_HDR` and `TUNSETOFFLOAD`), one read can return a 64 KB TCP (or UDP)
/// super-segment, which is split here into MTU-sized packets with their own headers and
/// checksums (`SegmentSplitter`), and queued writes of in-order TCP segments of one flow go out as
/// one coalesced write (`SegmentCoalescer`) through `writev`, the payloads referenced where they
/// lie. Where the kernel refuses an offload, the queue runs without it and says so in `offloads`.
///
/// The descriptor is nonblocking; wait for readability with `EventLoop`. Confined to one thread
/// (not Sendable). The interface disappears when its last queue is closed.
public final class TunDevice {
    /// Tallies of what the queue did and dropped, read by the owning thread.
    public struct Counters: Sendable, Equatable {
        /// Packets read (after splitting).
        public var packetsRead: UInt64 = 0
        /// Reads that returned a super-segment.
        public var superSegmentsRead: UInt64 = 0
        /// Packets written (each packet of a coalesced write counts).
        public var packetsWritten: UInt64 = 0
        /// Writes that carried several packets.
        public var coalescedWrites: UInt64 = 0
        /// Packets longer than their slot, or reads whose virtio-net header did not fit the packet: dropped.
        public var readTruncated: UInt64 = 0
        /// Packets the kernel refused on write (malformed, interface down, no buffer space).
        public var writeDropped: UInt64 = 0
        /// Packets queued beyond the write queue's room: dropped.
        public var writeQueueFull: UInt64 = 0
        /// The errno of the last refused write, 0 if none.
        public var lastWriteErrno: Int32 = 0
    }

    /// The interface name the kernel assigned (a `tun%d` template is resolved).
    public let name: String
    /// The descriptor (for `EventLoop.register`); -1 after `close()`.
    public private(set) var fd: Int32
    /// The offloads this queue runs with.
    public private(set) var offloads: TunOffloads
    /// Why an offload that was asked for is off, if the kernel refused one.
    public private(set) var offloadRefusal: String? = nil
    /// What happened so far.
    public private(set) var counters = Counters()

    // Reads land here first: a read may be a 64 KB super-segment, and a read into a smaller
    // buffer is cut short silently. One spare byte tells a packet that did not fit.
    private static let stagingSize = VirtioNetHeader.size + 65_535 + 1
    private let staging: UnsafeMutableRawPointer
    // A super-segment split only partly because the batch filled: the rest goes into the next one.
    private var pendingPlan: SegmentSplitter.Plan? = nil
    private var pendingNext = 0
    private var pendingLength = 0
    // Writes: planned into groups, then written with writev.
    private let coalescer: SegmentCoalescer
    private let groupHeaders: UnsafeMutableRawPointer
    private static let groupHeaderRoom = 128
    private let iovecs: UnsafeMutablePointer<iovec>
    private let zeroHeader: UnsafeMutableRawPointer

    /// Creates (or attaches to) the TUN interface `name`, which must be shorter than 16 bytes.
    ///
    /// With `multiQueue`, every `TunDevice` opened with the same name is one more queue of the same
    /// interface (one per lane), and the kernel spreads flows across them. With `offloads`, the
    /// queue asks for the virtio-net header, TSO and USO, and takes what the kernel grants.
    public init(name: String, multiQueue: Bool = false, offloads wanted: Bool = false, writeQueue: Int = 512) throws(IOError) {
        var actual = [CChar](repeating: 0, count: Int(CTUN_IFNAMSIZ))
        var granted = TunOffloads()
        var refusal: String? = nil
        var fd = wanted ? ctun_open_vnet(name, multiQueue ? 1 : 0, 1, &actual) : ctun_open(name, multiQueue ? 1 : 0, &actual)
        if wanted && fd >= 0 {
            granted.virtioHeader = true
            let tcp = UInt32(CTUN_TUN_F_CSUM | CTUN_TUN_F_TSO4 | CTUN_TUN_F_TSO6)
            let rc = ctun_set_offload(fd, tcp)
            if rc == 0 {
                granted.tcpSegmentation = true
                // USO needs both bits at once, and Linux 6.2; EINVAL leaves the TCP setting in place.
                if ctun_set_offload(fd, tcp | UInt32(CTUN_TUN_F_USO4 | CTUN_TUN_F_USO6)) == 0 { granted.udpSegmentation = true }
            } else {
                refusal = "TUNSETOFFLOAD refused: \(String(cString: strerror(-rc)))"
                // Without offloads the virtio header only costs: open the queue plainly instead.
                Glibc.close(fd)
                granted = TunOffloads()
                fd = ctun_open(name, multiQueue ? 1 : 0, &actual)
            }
        } else if wanted {
            refusal = "IFF_VNET_HDR refused: \(String(cString: strerror(-fd)))"
            fd = ctun_open(name, multiQueue ? 1 : 0, &actual)
        }
        guard fd >= 0 else {
            throw IOError(.tunOpen, errno: -fd, operation: "open /dev/net/tun as \(name)")
        }
        self.fd = fd
        self.offloads = granted
        self.offloadRefusal = refusal
        self.name = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        staging = .allocate(byteCount: Self.stagingSize, alignment: 64)
        coalescer = SegmentCoalescer(capacity: writeQueue)
        groupHeaders = .allocate(byteCount: writeQueue * Self.groupHeaderRoom, alignment: 64)
        iovecs = .allocate(capacity: coalescer.maxSegments + 2)
        iovecs.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: coalescer.maxSegments + 2)
        zeroHeader = .allocate(byteCount: VirtioNetHeader.size, alignment: 16)
        zeroHeader.initializeMemory(as: UInt8.self, repeating: 0, count: VirtioNetHeader.size)
    }

    deinit {
        close()
        staging.deallocate()
        groupHeaders.deallocate()
        iovecs.deallocate()
        zeroHeader.deallocate()
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

    // MARK: Reading

    /// Reads one packet into `buffer` and returns its length, or nil when none is waiting
    /// (queues without the virtio header only; tests and tools).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> Int? {
        while true {
            guard let length = try readRaw(into: staging, capacity: Self.stagingSize) else { return nil }
            let start = offloads.virtioHeader ? VirtioNetHeader.size : 0
            let packet = length - start
            guard packet >= 0, packet <= buffer.count, length < Self.stagingSize else {
                counters.readTruncated &+= 1
                continue
            }
            buffer.baseAddress!.copyMemory(from: staging + start, byteCount: packet)
            return packet
        }
    }

    /// Reads packets into `batch` (emptied first) until it is full or none is waiting, splitting
    /// super-segments; returns the count.
    public func readBatch(into batch: PacketBatch) throws(IOError) -> Int {
        batch.removeAll()
        continueSplit(into: batch)
        while batch.freeSlots > 0 {
            guard let length = try readRaw(into: staging, capacity: Self.stagingSize) else { break }
            guard length < Self.stagingSize else {
                counters.readTruncated &+= 1
                continue
            }
            if offloads.virtioHeader {
                acceptOffloaded(length: length, into: batch)
            } else {
                copy(UnsafeRawBufferPointer(start: staging, count: length), into: batch)
            }
        }
        return batch.count
    }

    private func acceptOffloaded(length: Int, into batch: PacketBatch) {
        guard length > VirtioNetHeader.size else {
            counters.readTruncated &+= 1
            return
        }
        let header = VirtioNetHeader(reading: staging)
        let packet = UnsafeMutableRawBufferPointer(start: staging + VirtioNetHeader.size, count: length - VirtioNetHeader.size)
        if header.gsoType == VirtioNetHeader.GSOType.none {
            if header.flags & VirtioNetHeader.needsChecksum != 0 && !SegmentSplitter.completeChecksum(packet, header: header) {
                counters.readTruncated &+= 1
                return
            }
            copy(UnsafeRawBufferPointer(packet), into: batch)
            return
        }
        guard let plan = SegmentSplitter.plan(UnsafeRawBufferPointer(packet), header: header) else {
            counters.readTruncated &+= 1
            return
        }
        counters.superSegmentsRead &+= 1
        pendingPlan = plan
        pendingNext = 0
        pendingLength = packet.count
        continueSplit(into: batch)
    }

    /// Splits what is left of a super-segment into the batch's free slots.
    private func continueSplit(into batch: PacketBatch) {
        guard let plan = pendingPlan else { return }
        let packet = UnsafeRawBufferPointer(start: staging + VirtioNetHeader.size, count: pendingLength)
        while pendingNext < plan.segments && batch.freeSlots > 0 {
            let slot = batch.slot(batch.count)
            guard plan.length(of: pendingNext) <= slot.count else {
                counters.readTruncated &+= 1
                pendingNext += 1
                continue
            }
            let written = SegmentSplitter.writeSegment(pendingNext, of: packet, plan: plan, into: slot.baseAddress!)
            batch.commit(length: written)
            counters.packetsRead &+= 1
            pendingNext += 1
        }
        if pendingNext >= plan.segments { pendingPlan = nil }
    }

    private func copy(_ packet: UnsafeRawBufferPointer, into batch: PacketBatch) {
        let slot = batch.slot(batch.count)
        guard packet.count <= slot.count else {
            counters.readTruncated &+= 1
            return
        }
        slot.baseAddress!.copyMemory(from: packet.baseAddress!, byteCount: packet.count)
        batch.commit(length: packet.count)
        counters.packetsRead &+= 1
    }

    private func readRaw(into buffer: UnsafeMutableRawPointer, capacity: Int) throws(IOError) -> Int? {
        // Nothing new is read while a split is unfinished: it lives in the staging buffer.
        guard pendingPlan == nil else { return nil }
        while true {
            let n = Glibc.read(fd, buffer, capacity)
            if n >= 0 { return n }
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

    // MARK: Writing

    /// Writes one packet now; returns false if the kernel refused it (counted in `writeDropped`).
    /// Throws only when the descriptor is unusable.
    @discardableResult
    public func write(_ packet: UnsafeRawBufferPointer) throws(IOError) -> Bool {
        if offloads.virtioHeader {
            iovecs[0] = iovec(iov_base: zeroHeader, iov_len: VirtioNetHeader.size)
            iovecs[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress), iov_len: packet.count)
            return try writeVector(count: 2, packets: 1)
        }
        iovecs[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress), iov_len: packet.count)
        return try writeVector(count: 1, packets: 1)
    }

    /// Writes what `coalescer` planned: coalesced groups with their virtio-net header and the
    /// payloads referenced in place, single packets as they are.
    private func writePlanned() throws(IOError) {
        for groupIndex in 0..<coalescer.groupTotal {
            let group = coalescer.group(groupIndex)
            if group.count == 1 {
                try write(coalescer.packet(Int(group.head)))
                continue
            }
            let headers = groupHeaders + groupIndex * Self.groupHeaderRoom
            let headerBytes = coalescer.writeHeaders(of: group, into: headers)
            iovecs[0] = iovec(iov_base: headers, iov_len: headerBytes)
            var vector = 1
            var member = Int(group.head)
            let headerLength = Int(group.headerLength)
            while member >= 0 {
                let packet = coalescer.packet(member)
                iovecs[vector] = iovec(
                    iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress! + headerLength), iov_len: packet.count - headerLength)
                vector += 1
                member = coalescer.packet(after: member)
            }
            if try writeVector(count: Int32(vector), packets: UInt64(group.count)) { counters.coalescedWrites &+= 1 }
        }
    }

    private func writeVector(count: Int32, packets: UInt64) throws(IOError) -> Bool {
        while true {
            let n = writev(fd, iovecs, count)
            if n >= 0 {
                counters.packetsWritten &+= packets
                return true
            }
            let err = errno
            switch err {
            case EINTR:
                continue
            case EBADF, EBADFD, EFAULT:
                throw IOError(.tunWrite, errno: err, operation: "write to \(name)")
            default:
                // EINVAL (not an IP packet), EIO (interface down), ENOBUFS, EAGAIN, ...
                counters.writeDropped &+= packets
                counters.lastWriteErrno = err
                return false
            }
        }
    }
}

extension TunDevice: PacketDevice {
    /// The queue's descriptor.
    public var pollDescriptor: Int32 { fd }

    /// Queues a packet; with TSO its in-order TCP segments are coalesced at `flushWrites`.
    public func enqueueWrite(_ packet: UnsafeRawBufferPointer) {
        if coalescer.isFull {
            // Only a dead descriptor throws; the loop notices that on its next read.
            do throws(IOError) { try flushWrites() } catch { counters.writeQueueFull &+= 1 }
        }
        if !coalescer.add(packet, coalescing: offloads.tcpSegmentation) { counters.writeQueueFull &+= 1 }
    }

    /// Writes everything queued.
    public func flushWrites() throws(IOError) {
        guard coalescer.count > 0 else { return }
        defer { coalescer.reset() }
        try writePlanned()
    }

    /// The queue's tallies in the seam's terms.
    public var deviceCounters: PacketDeviceCounters {
        var result = PacketDeviceCounters()
        result.packetsRead = counters.packetsRead
        result.superSegmentsRead = counters.superSegmentsRead
        result.readDropped = counters.readTruncated
        result.packetsWritten = counters.packetsWritten
        result.coalescedWrites = counters.coalescedWrites
        result.writeDropped = counters.writeDropped
        result.writeQueueFull = counters.writeQueueFull
        result.offloadBits = offloads.bits
        return result
    }
}
