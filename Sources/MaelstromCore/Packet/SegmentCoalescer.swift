/// Groups the packets queued for a TUN device into writes: consecutive in-order TCP segments of
/// one flow become one super-segment (GRO-style), written with a virtio-net header that has the
/// kernel cut it again; everything else is written alone.
///
/// Segments join a group only when the result is what the sender's TSO would have produced:
/// same addresses, ports and acknowledgment number, flags exactly ACK (PSH allowed on the last),
/// byte-identical TCP options, the same TOS, TTL and DF (IPv4) or traffic class and hop limit
/// (IPv6), no IPv4 options or fragments, each segment's sequence number right after the previous
/// one's payload, all payloads as long as the first but the last, which may be shorter, at most
/// `maxSegments` segments and 65,535 bytes. Packets are only appended, never reordered within a flow.
///
/// Fixed storage; planning allocates nothing. Not thread-safe: owned by its device's lane.
public final class SegmentCoalescer {
    /// One write: the packets of a group, in order.
    public struct Group: Sendable {
        /// Index of the first packet (whose headers the write carries).
        public var head: Int32
        /// Index of the last packet.
        public var tail: Int32
        /// Packets in the group.
        public var count: Int32
        /// Payload bytes of every segment but perhaps the last (the first's payload).
        public var gsoSize: Int32
        /// Sum of the payloads.
        public var payloadBytes: Int32
        /// Headers in front of the payload (IP + TCP).
        public var headerLength: Int32
        /// The sequence number the next segment must have to join.
        var nextSequence: UInt32 = 0
        /// The last segment's payload (a group whose last segment is short takes no more).
        var lastPayload: Int32 = 0
    }

    /// Most segments in one group (the kernel's GSO takes more; 64 keeps groups near 64 KB at MTU 1500).
    public let maxSegments: Int
    /// Packets that can be planned at once.
    public let capacity: Int

    private let packets: UnsafeMutablePointer<UnsafeRawBufferPointer>
    private let next: UnsafeMutablePointer<Int32>
    private let groups: UnsafeMutablePointer<Group>
    private var packetCount = 0
    private var groupCount = 0
    // Open groups by flow: the group index, or -1.
    private static let flowSlots = 16
    private let flowGroup: UnsafeMutablePointer<Int32>
    // A cheap digest of each open group's flow, compared before the addresses themselves.
    private let flowKeys: UnsafeMutablePointer<UInt64>
    private var nextFlowSlot = 0

    /// Room for `capacity` packets.
    public init(capacity: Int, maxSegments: Int = 64) {
        self.capacity = max(1, capacity)
        self.maxSegments = max(1, maxSegments)
        packets = .allocate(capacity: self.capacity)
        packets.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: self.capacity)
        next = .allocate(capacity: self.capacity)
        next.initialize(repeating: -1, count: self.capacity)
        groups = .allocate(capacity: self.capacity)
        groups.initialize(repeating: Group(head: 0, tail: 0, count: 0, gsoSize: 0, payloadBytes: 0, headerLength: 0), count: self.capacity)
        flowGroup = .allocate(capacity: Self.flowSlots)
        flowGroup.initialize(repeating: -1, count: Self.flowSlots)
        flowKeys = .allocate(capacity: Self.flowSlots)
        flowKeys.initialize(repeating: 0, count: Self.flowSlots)
    }

    deinit {
        packets.deallocate()
        next.deallocate()
        groups.deallocate()
        flowGroup.deallocate()
        flowKeys.deallocate()
    }

    /// Packets added since the last `reset`.
    public var count: Int { packetCount }
    /// Whether no more packets fit.
    public var isFull: Bool { packetCount == capacity }
    /// Groups planned so far.
    public var groupTotal: Int { groupCount }

    /// Group `index`, in the order its first packet was added.
    public func group(_ index: Int) -> Group { groups[index] }
    /// Packet `index`.
    public func packet(_ index: Int) -> UnsafeRawBufferPointer { packets[index] }
    /// The packet after `index` in its group, or -1.
    public func packet(after index: Int) -> Int { Int(next[index]) }

    /// Forgets every packet and group.
    public func reset() {
        packetCount = 0
        groupCount = 0
        flowGroup.update(repeating: -1, count: Self.flowSlots)
    }

    /// Adds a packet (its bytes must stay valid until the writes are done); false when full.
    @discardableResult
    public func add(_ packet: UnsafeRawBufferPointer, coalescing: Bool = true) -> Bool {
        guard packetCount < capacity else { return false }
        let index = packetCount
        packets[index] = packet
        next[index] = -1
        packetCount += 1
        guard coalescing, let segment = TCPSegmentView(packet) else {
            closeFlow(of: packet)
            startGroup(index, headerLength: 0, payload: packet.count, coalescible: false)
            return true
        }
        let key = segment.flowKey
        for slot in 0..<Self.flowSlots where flowKeys[slot] == key {
            let groupIndex = Int(flowGroup[slot])
            guard groupIndex >= 0 else { continue }
            let head = TCPSegmentView(unchecked: packets[Int(groups[groupIndex].head)], of: segment)
            guard head.sameFlow(as: segment) else { continue }
            let group = groups[groupIndex]
            if Int(group.count) < maxSegments, group.lastPayload == group.gsoSize, segment.sequence == group.nextSequence,
                segment.payloadLength <= Int(group.gsoSize),
                Int(group.headerLength) + Int(group.payloadBytes) + segment.payloadLength <= 65_535, head.sameHeaders(as: segment)
            {
                next[Int(group.tail)] = Int32(index)
                groups[groupIndex].tail = Int32(index)
                groups[groupIndex].count += 1
                groups[groupIndex].payloadBytes += Int32(segment.payloadLength)
                groups[groupIndex].nextSequence = segment.sequence &+ UInt32(truncatingIfNeeded: segment.payloadLength)
                groups[groupIndex].lastPayload = Int32(segment.payloadLength)
                // A short segment or PSH ends what a sender's TSO could have sent as one.
                if segment.payloadLength < Int(group.gsoSize) || segment.hasPSH { flowGroup[slot] = -1 }
            } else {
                flowGroup[slot] = -1
                openGroup(index, segment: segment)
            }
            return true
        }
        openGroup(index, segment: segment)
        return true
    }

    private func openGroup(_ index: Int, segment: TCPSegmentView) {
        let groupIndex = startGroup(index, headerLength: segment.headerLength, payload: segment.payloadLength, coalescible: true)
        groups[groupIndex].nextSequence = segment.sequence &+ UInt32(truncatingIfNeeded: segment.payloadLength)
        if segment.hasPSH { return }
        flowGroup[nextFlowSlot] = Int32(groupIndex)
        flowKeys[nextFlowSlot] = segment.flowKey
        nextFlowSlot = (nextFlowSlot + 1) % Self.flowSlots
    }

    @discardableResult
    private func startGroup(_ index: Int, headerLength: Int, payload: Int, coalescible: Bool) -> Int {
        let groupIndex = groupCount
        groups[groupIndex] = Group(
            head: Int32(index), tail: Int32(index), count: 1, gsoSize: Int32(payload), payloadBytes: Int32(payload),
            headerLength: Int32(headerLength), lastPayload: Int32(payload))
        groupCount += 1
        return groupIndex
    }

    /// A packet of a flow that cannot join its group ends the group (no reordering within a flow).
    private func closeFlow(of packet: UnsafeRawBufferPointer) {
        guard let view = TCPSegmentView.flowOnly(packet) else { return }
        let key = view.flowKey
        for slot in 0..<Self.flowSlots where flowGroup[slot] >= 0 && flowKeys[slot] == key {
            let head = TCPSegmentView(unchecked: packets[Int(groups[Int(flowGroup[slot])].head)], of: view)
            if head.sameFlow(as: view) { flowGroup[slot] = -1 }
        }
    }

    /// Writes what a coalesced group's write carries before the payloads: the virtio-net header
    /// (a TCP super-segment to be cut at `gsoSize`, checksum to be completed by the kernel) and the
    /// first packet's headers with the group's lengths, PSH if the last had it, and the pseudo
    /// header's sum in the checksum field. Returns the bytes written (10 + header length).
    public func writeHeaders(of group: Group, into destination: UnsafeMutableRawPointer) -> Int {
        let head = packets[Int(group.head)]
        let view = TCPSegmentView(head)!
        let headerLength = Int(group.headerLength)
        let total = headerLength + Int(group.payloadBytes)
        let ip = destination + VirtioNetHeader.size
        ip.copyMemory(from: head.baseAddress!, byteCount: headerLength)
        if view.isIPv4 {
            ip.storeBigEndian(UInt16(truncatingIfNeeded: total), at: 2)
            ip.storeBytes(of: 0, toByteOffset: 10, as: UInt16.self)
            ip.storeNetworkOrder(InternetChecksum.checksum(InternetChecksum.sum(ip, count: view.transportOffset)), at: 10)
        } else {
            ip.storeBigEndian(UInt16(truncatingIfNeeded: total - 40), at: 4)
        }
        let tcp = ip + view.transportOffset
        if let last = TCPSegmentView(packets[Int(group.tail)]), last.hasPSH {
            tcp.storeBytes(of: tcp.load(fromByteOffset: 13, as: UInt8.self) | 0x08, toByteOffset: 13, as: UInt8.self)
        }
        let pseudo = InternetChecksum.pseudoHeaderSum(ip: ip, proto: 6, length: total - view.transportOffset)
        tcp.storeNetworkOrder(InternetChecksum.fold(pseudo), at: 16)
        VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksum, gsoType: view.isIPv4 ? .tcpv4 : .tcpv6, headerLength: UInt16(headerLength),
            gsoSize: UInt16(truncatingIfNeeded: group.gsoSize), checksumStart: UInt16(view.transportOffset), checksumOffset: 16
        ).write(to: destination)
        return VirtioNetHeader.size + headerLength
    }
}

/// The fields of a TCP segment that coalescing looks at; nil for anything that may not be coalesced.
@usableFromInline
struct TCPSegmentView {
    let base: UnsafeRawPointer
    let isIPv4: Bool
    let transportOffset: Int
    let headerLength: Int
    let payloadLength: Int
    let sequence: UInt32
    let flags: UInt8

    var hasPSH: Bool { flags & 0x08 != 0 }

    init?(_ packet: UnsafeRawBufferPointer) {
        guard let base = packet.baseAddress, packet.count >= 40 else { return nil }
        let first = base.load(as: UInt8.self)
        switch first >> 4 {
        case 4:
            guard first & 0x0F == 5, base.load(fromByteOffset: 9, as: UInt8.self) == 6,
                Int(base.loadBigEndianUInt16(at: 2)) == packet.count,
                base.loadBigEndianUInt16(at: 6) & 0x3FFF == 0  // neither MF nor a fragment offset
            else { return nil }
            isIPv4 = true
            transportOffset = 20
        case 6:
            guard packet.count >= 60, base.load(fromByteOffset: 6, as: UInt8.self) == 6,
                Int(base.loadBigEndianUInt16(at: 4)) + 40 == packet.count
            else { return nil }
            isIPv4 = false
            transportOffset = 40
        default:
            return nil
        }
        let tcpLength = Int(base.load(fromByteOffset: transportOffset + 12, as: UInt8.self) >> 4) * 4
        let flags = base.load(fromByteOffset: transportOffset + 13, as: UInt8.self)
        guard tcpLength >= 20, transportOffset + tcpLength < packet.count, flags == 0x10 || flags == 0x18 else { return nil }
        self.base = base
        self.headerLength = transportOffset + tcpLength
        self.payloadLength = packet.count - transportOffset - tcpLength
        self.sequence = base.loadBigEndianUInt32(at: transportOffset + 4)
        self.flags = flags
    }

    /// The head of an open group, known to be a valid segment of the same IP version as `other`:
    /// only the fields the comparisons read are filled in.
    init(unchecked packet: UnsafeRawBufferPointer, of other: TCPSegmentView) {
        let base = packet.baseAddress!
        let transportOffset = other.isIPv4 ? 20 : 40
        self.init(
            base: base, isIPv4: other.isIPv4, transportOffset: transportOffset,
            headerLength: transportOffset + Int(base.load(fromByteOffset: transportOffset + 12, as: UInt8.self) >> 4) * 4)
    }

    private init(base: UnsafeRawPointer, isIPv4: Bool, transportOffset: Int, headerLength: Int = 0) {
        self.base = base
        self.isIPv4 = isIPv4
        self.transportOffset = transportOffset
        self.headerLength = headerLength
        payloadLength = 0
        sequence = 0
        flags = 0
    }

    /// A digest of addresses and ports: equal for one flow, rarely equal for two.
    var flowKey: UInt64 {
        let ports = UInt64(base.loadUnaligned(fromByteOffset: transportOffset, as: UInt32.self))
        let addresses: UInt64
        if isIPv4 {
            addresses = base.loadUnaligned(fromByteOffset: 12, as: UInt64.self)
        } else {
            addresses = base.loadUnaligned(fromByteOffset: 8, as: UInt64.self) ^ base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
                ^ base.loadUnaligned(fromByteOffset: 24, as: UInt64.self) ^ base.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
        }
        return addresses &* 0x9E37_79B9_7F4A_7C15 ^ ports ^ (isIPv4 ? 0 : 1 << 63)
    }

    /// Just the flow of any TCP packet (for ending a flow's group), whatever its flags.
    static func flowOnly(_ packet: UnsafeRawBufferPointer) -> TCPSegmentView? {
        guard let base = packet.baseAddress, packet.count >= 40 else { return nil }
        let first = base.load(as: UInt8.self)
        if first >> 4 == 4, base.load(fromByteOffset: 9, as: UInt8.self) == 6 {
            return TCPSegmentView(base: base, isIPv4: true, transportOffset: Int(first & 0x0F) * 4)
        }
        if first >> 4 == 6, packet.count >= 60, base.load(fromByteOffset: 6, as: UInt8.self) == 6 {
            return TCPSegmentView(base: base, isIPv4: false, transportOffset: 40)
        }
        return nil
    }

    /// Same addresses and ports.
    func sameFlow(as other: TCPSegmentView) -> Bool {
        guard isIPv4 == other.isIPv4 else { return false }
        let addressStart = isIPv4 ? 12 : 8
        let addressBytes = isIPv4 ? 8 : 32
        return memcmpEqual(base + addressStart, other.base + addressStart, addressBytes)
            && base.loadUnaligned(fromByteOffset: transportOffset, as: UInt32.self)
                == other.base.loadUnaligned(fromByteOffset: other.transportOffset, as: UInt32.self)
    }

    /// Headers that must be equal for two segments to be one super-segment: TOS/TTL/DF or
    /// traffic class/hop limit, acknowledgment, window scale aside, and every TCP option byte.
    func sameHeaders(as other: TCPSegmentView) -> Bool {
        guard headerLength == other.headerLength else { return false }
        if isIPv4 {
            guard base.load(fromByteOffset: 1, as: UInt8.self) == other.base.load(fromByteOffset: 1, as: UInt8.self),
                base.load(fromByteOffset: 6, as: UInt8.self) & 0xE0 == other.base.load(fromByteOffset: 6, as: UInt8.self) & 0xE0,
                base.load(fromByteOffset: 8, as: UInt8.self) == other.base.load(fromByteOffset: 8, as: UInt8.self)
            else { return false }
        } else {
            guard base.load(as: UInt8.self) == other.base.load(as: UInt8.self),
                base.load(fromByteOffset: 1, as: UInt8.self) & 0xF0 == other.base.load(fromByteOffset: 1, as: UInt8.self) & 0xF0,
                base.load(fromByteOffset: 7, as: UInt8.self) == other.base.load(fromByteOffset: 7, as: UInt8.self)
            else { return false }
        }
        // Acknowledgment number, then the options after the fixed 20 bytes.
        guard base.loadUnaligned(fromByteOffset: transportOffset + 8, as: UInt32.self)
            == other.base.loadUnaligned(fromByteOffset: other.transportOffset + 8, as: UInt32.self)
        else { return false }
        let options = headerLength - transportOffset - 20
        return options == 0 || memcmpEqual(base + transportOffset + 20, other.base + other.transportOffset + 20, options)
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    var offset = 0
    while offset + 8 <= count {
        if a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != b.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
            return false
        }
        offset += 8
    }
    while offset < count {
        if a.load(fromByteOffset: offset, as: UInt8.self) != b.load(fromByteOffset: offset, as: UInt8.self) { return false }
        offset += 1
    }
    return true
}
