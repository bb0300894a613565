import MaelstromCore
import MaelstromTestKit
import PropertyBased
import Testing

/// The RFC 1071 checksum the slow, obvious way: 16-bit big-endian words, an odd byte padded.
private func referenceSum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
    var sum = initial
    var index = 0
    while index + 1 < bytes.count {
        sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
        index += 2
    }
    if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return UInt16(sum)
}

/// A TCP super-segment as a sender's TSO hands it to the TUN: one IP header, one TCP header,
/// `payload` bytes, and the virtio-net header describing the cut.
private func superSegment(v6: Bool, payload: Int, mss: Int, flags: UInt8 = 0x18, options: [UInt8] = []) -> ([UInt8], VirtioNetHeader) {
    let bytes = (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    let packet = PacketBuilder.tcp(
        from: v6 ? "2001:db8:1::2" : "10.1.0.2", to: v6 ? "2001:db8:2::2" : "10.2.0.2", sequence: 0xFFFF_FF00, flags: flags,
        options: options, payload: bytes, id: 0xFFFE)
    let ipLength = v6 ? 40 : 20
    let header = VirtioNetHeader(
        flags: VirtioNetHeader.needsChecksum, gsoType: v6 ? .tcpv6 : .tcpv4, headerLength: UInt16(ipLength + 20 + options.count),
        gsoSize: UInt16(mss), checksumStart: UInt16(ipLength), checksumOffset: 16)
    return (packet, header)
}

private func split(_ packet: [UInt8], _ header: VirtioNetHeader) -> [[UInt8]]? {
    packet.withUnsafeBytes { raw -> [[UInt8]]? in
        guard let plan = SegmentSplitter.plan(raw, header: header) else { return nil }
        var segments: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for index in 0..<plan.segments {
            let length = buffer.withUnsafeMutableBytes { SegmentSplitter.writeSegment(index, of: raw, plan: plan, into: $0.baseAddress!) }
            segments.append(Array(buffer[..<length]))
        }
        return segments
    }
}

private func ipHeaderLength(_ packet: [UInt8]) -> Int { packet[0] >> 4 == 4 ? Int(packet[0] & 0x0F) * 4 : 40 }
private func tcpFlags(_ packet: [UInt8]) -> UInt8 { packet[ipHeaderLength(packet) + 13] }
private func tcpSequence(_ packet: [UInt8]) -> UInt32 {
    let offset = ipHeaderLength(packet) + 4
    return packet[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
}
private func tcpPayload(_ packet: [UInt8]) -> [UInt8] {
    let offset = ipHeaderLength(packet)
    return Array(packet[(offset + Int(packet[offset + 12] >> 4) * 4)...])
}

@Suite("TUN offloads: checksums, splitting and coalescing")
struct OffloadTests {
    @Test("the fast checksum equals RFC 1071 for every length up to 9001 and any starting value")
    func checksumMatchesReference() {
        var random = SplitMix64(seed: 11)
        for length in Array(0...300) + [1399, 1400, 1500, 4096, 9000, 9001] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let initial = UInt32(truncatingIfNeeded: random.next()) & 0xFFFF
            let fast = bytes.withUnsafeBytes { raw in
                InternetChecksum.fold(
                    InternetChecksum.sum(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, count: length,
                                         initial: UInt64(UInt16(truncatingIfNeeded: initial).bigEndian)))
            }
            #expect(fast == referenceSum(bytes, initial: initial), "length \(length)")
        }
    }

    @Test("a TCP super-segment splits into the packets TSO stands for (IPv4 and IPv6)", arguments: [false, true])
    func tcpSplit(v6: Bool) throws {
        let mss = v6 ? 1220 : 1240
        let (packet, header) = superSegment(v6: v6, payload: 5 * mss + 333, mss: mss, flags: 0x19)  // ACK|PSH|FIN
        let segments = try #require(split(packet, header))
        #expect(segments.count == 6)
        #expect(segments.map { tcpPayload($0).count } == [mss, mss, mss, mss, mss, 333])
        #expect(segments.flatMap(tcpPayload) == tcpPayload(packet))
        for (index, segment) in segments.enumerated() {
            #expect(PacketBuilder.transportChecksumIsValid(segment), "segment \(index)")
            #expect(PacketBuilder.ipv4HeaderChecksumIsValid(segment), "segment \(index)")
            #expect(IPPacket.isWellFormed(segment.withUnsafeBytes { $0 }), "segment \(index) lengths")
            #expect(tcpSequence(segment) == 0xFFFF_FF00 &+ UInt32(index * mss), "sequence numbers wrap past 2³²")
            #expect(tcpFlags(segment) == (index == 5 ? 0x19 : 0x10), "FIN and PSH on the last only")
            if !v6 {
                let id = UInt16(segment[4]) << 8 | UInt16(segment[5])
                #expect(id == 0xFFFE &+ UInt16(index), "IPv4 IDs go up by one and wrap")
            }
        }
    }

    @Test("a UDP super-segment (USO) splits with UDP lengths, and a computed checksum of 0 is sent as 0xFFFF")
    func udpSplit() throws {
        var payload = [UInt8](repeating: 0x5A, count: 3 * 1000)
        payload[998] = 0
        payload[999] = 0
        let probe = PacketBuilder.udp(from: "10.1.0.2", to: "10.2.0.2", payload: Array(payload[0..<1000]))
        // Make the first segment's checksum come out as 0: its last word cancels the rest.
        let checksum = UInt16(probe[26]) << 8 | UInt16(probe[27])
        payload[998] = UInt8(checksum >> 8)
        payload[999] = UInt8(checksum & 0xFF)
        let packet = PacketBuilder.udp(from: "10.1.0.2", to: "10.2.0.2", payload: payload)
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksum, gsoType: .udpL4, headerLength: 28, gsoSize: 1000, checksumStart: 20, checksumOffset: 6)
        let segments = try #require(split(packet, header))
        #expect(segments.count == 3)
        for segment in segments {
            #expect(segment.count == 1028)
            #expect(UInt16(segment[24]) << 8 | UInt16(segment[25]) == 1008)
            #expect(PacketBuilder.transportChecksumIsValid(segment))
        }
        #expect(segments[0][26] == 0xFF && segments[0][27] == 0xFF)
    }

    @Test("a partial checksum (NEEDS_CSUM) is completed in place")
    func completesPartialChecksum() {
        var packet = PacketBuilder.tcp(from: "10.1.0.2", to: "10.2.0.2", sequence: 9, payload: [UInt8](repeating: 1, count: 777))
        // What the kernel leaves: the pseudo header's folded sum, not inverted.
        let pseudo = packet.withUnsafeBytes { InternetChecksum.pseudoHeaderSum(ip: $0.baseAddress!, proto: 6, length: packet.count - 20) }
        let partial = InternetChecksum.fold(pseudo)
        packet[36] = UInt8(partial >> 8)
        packet[37] = UInt8(partial & 0xFF)
        #expect(!PacketBuilder.transportChecksumIsValid(packet))
        let header = VirtioNetHeader(flags: VirtioNetHeader.needsChecksum, checksumStart: 20, checksumOffset: 16)
        let done = packet.withUnsafeMutableBytes { SegmentSplitter.completeChecksum($0, header: header) }
        #expect(done)
        #expect(PacketBuilder.transportChecksumIsValid(packet))
    }

    @Test("virtio-net headers that disagree with the packet are refused, never trusted")
    func malformedHeadersRefused() {
        let (packet, good) = superSegment(v6: false, payload: 3000, mss: 1000)
        var cases: [VirtioNetHeader] = []
        var wrongStart = good
        wrongStart.checksumStart = 24
        cases.append(wrongStart)
        var v6TypeForV4 = good
        v6TypeForV4.gsoTypeRaw = VirtioNetHeader.GSOType.tcpv6.rawValue
        cases.append(v6TypeForV4)
        var zeroSize = good
        zeroSize.gsoSize = 0
        cases.append(zeroSize)
        var ecn = good
        ecn.gsoTypeRaw |= 0x80
        cases.append(ecn)
        var udpOffset = good
        udpOffset.checksumOffset = 6
        cases.append(udpOffset)
        for header in cases {
            #expect(packet.withUnsafeBytes { SegmentSplitter.plan($0, header: header) } == nil, "\(header)")
        }
    }

    @Test("random packets under random virtio-net headers never trap the splitter, and every segment fits")
    func splitterNeverTraps() async {
        await propertyCheck(count: 500, input: Gen.uint8().array(of: 0...400), Gen.uint64()) { bytes, seed in
            var random = SplitMix64(seed: seed)
            var packet = bytes
            if packet.count > 20 { packet[0] = random.next() % 2 == 0 ? 0x45 : 0x60 }
            let header = VirtioNetHeader(
                flags: UInt8(truncatingIfNeeded: random.next()), gsoType: [.tcpv4, .tcpv6, .udpL4][Int(random.next() % 3)],
                headerLength: UInt16(truncatingIfNeeded: random.next()), gsoSize: UInt16(truncatingIfNeeded: random.next() % 2000),
                checksumStart: UInt16(random.next() % 80), checksumOffset: UInt16(random.next() % 20))
            packet.withUnsafeBytes { raw in
                guard let plan = SegmentSplitter.plan(raw, header: header) else { return }
                #expect(plan.headerLength + plan.payloadLength == raw.count)
                #expect(plan.segments >= 1 && plan.length(of: plan.segments - 1) <= 65_535)
            }
        }
    }

    /// Coalesces `packets` and returns the groups' packet indices.
    private func groups(_ packets: [[UInt8]]) -> [[Int]] {
        let coalescer = SegmentCoalescer(capacity: 256)
        return withArrayOfBuffers(packets) { buffers in
            for buffer in buffers { coalescer.add(buffer) }
            return (0..<coalescer.groupTotal).map { index in
                var members: [Int] = []
                var member = Int(coalescer.group(index).head)
                while member >= 0 {
                    members.append(member)
                    member = coalescer.packet(after: member)
                }
                return members
            }
        }
    }

    @Test("in-order segments of one flow coalesce; PSH ends a group; other flows and non-data packets stay apart")
    func coalescingGroups() {
        func segment(_ index: Int, flow: Int = 0, flags: UInt8 = 0x10, length: Int = 1000, ttl: UInt8 = 64) -> [UInt8] {
            PacketBuilder.tcp(
                from: "10.1.0.2", to: "10.2.0.2", sourcePort: UInt16(40000 + flow), sequence: UInt32(1 + index * 1000), flags: flags,
                payload: [UInt8](repeating: UInt8(index), count: length), ttl: ttl)
        }
        #expect(groups((0..<5).map { segment($0) }) == [[0, 1, 2, 3, 4]])
        // PSH on the third closes it; the next segment starts a new group.
        #expect(groups([segment(0), segment(1), segment(2, flags: 0x18), segment(3)]) == [[0, 1, 2], [3]])
        // Two flows interleaved: each coalesces, their order among themselves kept.
        #expect(groups([segment(0), segment(0, flow: 1), segment(1), segment(1, flow: 1)]) == [[0, 2], [1, 3]])
        // A gap in the sequence, a different TTL, a FIN: no joining.
        #expect(groups([segment(0), segment(2)]) == [[0], [1]])
        #expect(groups([segment(0), segment(1, ttl: 63)]) == [[0], [1]])
        #expect(groups([segment(0), segment(1, flags: 0x11), segment(2)]) == [[0], [1], [2]])
        // A short segment may end a group but nothing may follow it.
        #expect(groups([segment(0), segment(1, length: 500), segment(2)]) == [[0, 1], [2]])
        // Different TCP options (timestamps) never join.
        let a = PacketBuilder.tcp(from: "10.1.0.2", to: "10.2.0.2", sequence: 1, options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], payload: [1])
        let b = PacketBuilder.tcp(from: "10.1.0.2", to: "10.2.0.2", sequence: 2, options: [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2], payload: [1])
        #expect(groups([a, b]) == [[0], [1]])
        // At most 64 segments per group.
        #expect(groups((0..<70).map { segment($0) }).map(\.count) == [64, 6])
    }

    @Test("coalescing and then splitting again gives back the very packets (IPv4 and IPv6)", arguments: [false, true])
    func coalesceThenSplitRoundTrips(v6: Bool) throws {
        let source = v6 ? "2001:db8:1::2" : "10.1.0.2"
        let destination = v6 ? "2001:db8:2::2" : "10.2.0.2"
        let options: [UInt8] = [1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6]
        var originals: [[UInt8]] = []
        for index in 0..<20 {
            let length = index == 19 ? 700 : 1200
            let payload: [UInt8] = (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ index) }
            let flags: UInt8 = index == 19 ? 0x18 : 0x10
            originals.append(
                PacketBuilder.tcp(
                    from: source, to: destination, sequence: UInt32(5000 + index * 1200), flags: flags, options: options,
                    payload: payload, id: UInt16(100 + index)))
        }
        let coalescer = SegmentCoalescer(capacity: 64)
        let rebuilt: [[UInt8]] = try withArrayOfBuffers(originals) { buffers in
            for buffer in buffers { coalescer.add(buffer) }
            #expect(coalescer.groupTotal == 1)
            let group = coalescer.group(0)
            var headers = [UInt8](repeating: 0, count: 256)
            let headerBytes = headers.withUnsafeMutableBytes { coalescer.writeHeaders(of: group, into: $0.baseAddress!) }
            // What the kernel receives: the header, then every payload behind the first's headers.
            var superPacket = Array(headers[VirtioNetHeader.size..<headerBytes])
            var member = Int(group.head)
            while member >= 0 {
                superPacket += Array(buffers[member].dropFirst(Int(group.headerLength)))
                member = coalescer.packet(after: member)
            }
            let header = headers.withUnsafeBytes { VirtioNetHeader(reading: $0.baseAddress!) }
            #expect(header.gsoType == (v6 ? .tcpv6 : .tcpv4) && header.gsoSize == 1200 && header.flags == VirtioNetHeader.needsChecksum)
            return try #require(split(superPacket, header))
        }
        #expect(rebuilt == originals)
    }
}

/// Calls `body` with the arrays' bytes as raw buffers that stay valid during the call.
func withArrayOfBuffers<T>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> T) rethrows -> T {
    let total = arrays.reduce(0) { $0 + $1.count }
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, total), alignment: 16)
    defer { storage.deallocate() }
    var buffers: [UnsafeRawBufferPointer] = []
    var offset = 0
    for array in arrays {
        array.withUnsafeBytes { (storage.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: array.count) }
        buffers.append(UnsafeRawBufferPointer(start: storage.baseAddress! + offset, count: array.count))
        offset += array.count
    }
    return try body(buffers)
}
