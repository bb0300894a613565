import MaelstromCore
import MaelstromTestKit
import Testing

/// A sealed frame's first bytes: envelope (flags 1, receiver index, counter) and some ciphertext.
private func sealedFrame(type: UInt8 = 1, lane: UInt8 = 0, index: UInt32, counter: UInt64, size: Int = 60) -> [UInt8] {
    var bytes: [UInt8] = [WireFormat.version, type, lane, WireFormat.sealedFlag]
    bytes += PacketBuilder.be32(index)
    bytes += PacketBuilder.be32(UInt32(counter >> 32)) + PacketBuilder.be32(UInt32(truncatingIfNeeded: counter))
    bytes += (0..<max(0, size - 16)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
    return bytes
}

/// A plaintext data frame with a valid header checksum.
private func plaintextData(lane: UInt8 = 0, stream: UInt32, sequence: UInt32, payload: Int = 40) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 16) + PacketBuilder.be32(stream) + PacketBuilder.be32(sequence)
    bytes += [UInt8](repeating: 0x45, count: payload)
    bytes.withUnsafeMutableBytes { WireFormat.writePlaintextEnvelope($0.baseAddress!, type: .data, lane: LaneID(lane)) }
    return bytes
}

/// A plaintext keepalive with a valid header checksum.
private func plaintextKeepalive(stream: UInt32) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 16 + WireFormat.keepaliveSize)
    bytes.replaceSubrange(16..<20, with: PacketBuilder.be32(stream))
    bytes.withUnsafeMutableBytes { WireFormat.writePlaintextEnvelope($0.baseAddress!, type: .keepalive, lane: 0) }
    return bytes
}

private let gatewayA = Endpoint("198.18.1.1:4500")!
private let gatewayB = Endpoint("198.18.2.1:4500")!

extension CaptureLossTrace {
    /// Adds a payload held in an array.
    fileprivate mutating func add(_ source: Endpoint, _ payload: [UInt8]) {
        payload.withUnsafeBytes { add(source: source, payload: $0) }
    }

    /// Adds sealed data frames with these counters, in this order.
    fileprivate mutating func addSealed(_ counters: [UInt64], index: UInt32 = 0x1A2B_3C4D, lane: UInt8 = 0, from source: Endpoint = gatewayA) {
        for counter in counters { add(source, sealedFrame(lane: lane, index: index, counter: counter)) }
    }
}

/// The pattern that loses exactly `lost` of `count` positions.
private func expectedPattern(count: Int, lost: Set<Int>) -> [Bool] { (0..<count).map { lost.contains($0) } }

@Suite("Capture loss trace")
struct CaptureLossTraceTests {
    @Test("sealed counters with gaps: expected, received, lost, bursts and the pattern")
    func sealedGaps() throws {
        let lost: Set<Int> = [10, 20, 21, 50, 51, 52, 53, 70, 71, 72, 73, 74]
        var trace = CaptureLossTrace()
        trace.addSealed((0..<100).filter { !lost.contains($0) }.map { 1_000 + UInt64($0) })
        let summary = trace.summary
        #expect(summary.streams.count == 1)
        let counts = summary.total
        #expect(counts.expected == 100)
        #expect(counts.received == 88)
        #expect(counts.lost == 12)
        #expect(counts.lossRate == 0.12)
        #expect(counts.late == 0 && counts.duplicates == 0 && counts.jumps == 0 && counts.stale == 0)
        #expect(counts.burstBuckets == [
            CaptureBurstBucket(minLength: 1, maxLength: 1, count: 1),
            CaptureBurstBucket(minLength: 2, maxLength: 2, count: 1),
            CaptureBurstBucket(minLength: 3, maxLength: 4, count: 1),
            CaptureBurstBucket(minLength: 5, maxLength: 8, count: 1),
        ])
        #expect(trace.pattern() == expectedPattern(count: 100, lost: lost))
        #expect(summary.streams[0].key == CaptureStreamKey(source: gatewayA, lane: 0, kind: .sealed(receiverIndex: 0x1A2B_3C4D)))
        #expect(summary.counters.frames == 88 && summary.counters.datagrams == 88)
    }

    @Test("every sealed frame type counts: repair, keepalive and loss report fill the counter's gaps")
    func sealedTypes() {
        var trace = CaptureLossTrace()
        for (counter, type) in [(0, 1), (1, 2), (2, 3), (3, 7), (5, 1)] as [(UInt64, UInt8)] {
            trace.add(gatewayA, sealedFrame(type: type, index: 7, counter: counter))
        }
        #expect(trace.summary.total.expected == 6)
        #expect(trace.summary.total.lost == 1)
        #expect(trace.pattern() == [false, false, false, false, true, false])
    }

    @Test("a frame below the highest fills its gap (late), a repeated one is a duplicate")
    func reorderingAndDuplicates() {
        var trace = CaptureLossTrace()
        trace.addSealed([0, 1, 3, 4, 2, 4, 6, 1, 8, 5])
        let counts = trace.summary.total
        #expect(counts.expected == 9)
        #expect(counts.received == 8)
        #expect(counts.lost == 1)
        #expect(counts.late == 2)  // 2 and 5
        #expect(counts.duplicates == 2)  // 4 and 1
        #expect(trace.pattern() == [false, false, false, false, false, false, false, true, false])
        #expect(counts.burstBuckets == [CaptureBurstBucket(minLength: 1, maxLength: 1, count: 1)])
    }

    @Test("a late frame before the first one seen moves the stream's start down; one far before is stale")
    func lateBeforeStart() {
        var trace = CaptureLossTrace()
        trace.addSealed([2000, 2001, 1998, 2003])
        var counts = trace.summary.total
        #expect(counts.expected == 6)  // 1998 … 2003
        #expect(counts.lost == 2)  // 1999 and 2002
        #expect(counts.late == 1)
        #expect(trace.pattern() == [false, true, false, false, true, false])
        // Down across a word boundary of the bitmap, and then one too far back.
        trace.addSealed([1800, 10])
        counts = trace.summary.total
        #expect(counts.expected == 204)
        #expect(counts.received == 5)
        #expect(counts.stale == 1)
        #expect(trace.pattern().count == 204)
        #expect(trace.pattern().first == false && trace.pattern().last == false)
    }

    @Test("plaintext sequences wrap around 2³² seamlessly")
    func plaintextWrapAround() {
        var trace = CaptureLossTrace()
        let first: UInt32 = 0xFFFF_FFF0
        let lost: Set<Int> = [15, 18, 19]  // 0xFFFFFFFF, then 2 and 3 after the wrap
        for offset in 0..<40 where !lost.contains(offset) {
            trace.add(gatewayA, plaintextData(stream: 0xCAFE, sequence: first &+ UInt32(offset)))
        }
        // A late one from before the wrap, after it.
        trace.add(gatewayA, plaintextData(stream: 0xCAFE, sequence: 0xFFFF_FFFF))
        let counts = trace.summary.total
        #expect(counts.expected == 40)
        #expect(counts.lost == 2)
        #expect(counts.late == 1)
        #expect(counts.jumps == 0)
        #expect(trace.pattern() == expectedPattern(count: 40, lost: [18, 19]))
        #expect(trace.summary.streams[0].key.kind == .plaintext(stream: 0xCAFE))
    }

    @Test("a jump of more than 2²⁰ starts a new segment instead of counting a million losses")
    func bigJump() {
        var trace = CaptureLossTrace()
        trace.addSealed(Array(0..<10))
        trace.addSealed((10_000_000..<10_000_010).filter { $0 != 10_000_005 })
        // A stray from before the jump, now far behind.
        trace.addSealed([9])
        let counts = trace.summary.total
        #expect(counts.jumps == 1)
        #expect(counts.expected == 20)
        #expect(counts.lost == 1)
        #expect(counts.stale == 1)
        #expect(trace.pattern() == expectedPattern(count: 20, lost: [15]))
        // Plaintext too: two jumps forward within 32 bits.
        var plain = CaptureLossTrace()
        for sequence: UInt32 in [0, 1, 2, 3_000_000, 3_000_001, 0x7000_0000, 0x7000_0002] {
            plain.add(gatewayA, plaintextData(stream: 9, sequence: sequence))
        }
        #expect(plain.summary.total.jumps == 2)
        #expect(plain.summary.total.expected == 3 + 2 + 3)
        #expect(plain.summary.total.lost == 1)
    }

    @Test("streams are told apart by source, session, lane and stream identity, in order of first appearance")
    func separateStreams() {
        var trace = CaptureLossTrace()
        trace.addSealed([0, 2], index: 1, lane: 0)  // stream 1
        trace.addSealed([100, 101, 104], index: 1, lane: 1)  // stream 2
        trace.addSealed([5, 6], index: 2, lane: 0)  // stream 3: another session
        trace.addSealed([0, 1], index: 1, lane: 0, from: gatewayB)  // stream 4: another source
        trace.add(gatewayA, plaintextData(lane: 0, stream: 1, sequence: 0))  // stream 5
        trace.add(gatewayA, plaintextData(lane: 0, stream: 1, sequence: 3))
        trace.addSealed([3], index: 1, lane: 0)
        let summary = trace.summary
        #expect(summary.streams.map(\.counts.expected) == [4, 5, 2, 2, 4])
        #expect(summary.streams.map(\.counts.lost) == [1, 2, 0, 0, 2])
        #expect(summary.streams.map(\.number) == [1, 2, 3, 4, 5])
        #expect(summary.streams[1].key.lane == 1)
        #expect(summary.streams[3].key.source == gatewayB)
        #expect(summary.total.expected == 17 && summary.total.lost == 5)
        #expect(trace.pattern(stream: 2) == [false, false, true, true, false])
        #expect(trace.pattern() == [false, true, false, false] + [false, false, true, true, false] + [false, false] + [false, false] + [false, true, true, false])
        #expect(trace.largestStream == 2)
        #expect(trace.pattern(stream: 9).isEmpty)
    }

    @Test("--peer keeps only one source; handshakes, other versions, bad checksums and short datagrams are ignored")
    func filteringAndIgnored() {
        var trace = CaptureLossTrace(peer: gatewayA)
        trace.addSealed([0, 1, 2], from: gatewayB)
        trace.addSealed([0, 2])
        var handshake = [UInt8](repeating: 0, count: 157)
        handshake[0] = 3
        handshake[1] = 4
        trace.add(gatewayA, handshake)
        var version2 = sealedFrame(index: 1, counter: 1)
        version2[0] = 2
        trace.add(gatewayA, version2)
        var badChecksum = plaintextData(stream: 5, sequence: 1)
        badChecksum[20] ^= 0xFF
        trace.add(gatewayA, badChecksum)
        trace.add(gatewayA, Array(sealedFrame(index: 1, counter: 1).prefix(15)))
        var badLane = sealedFrame(index: 1, counter: 1)
        badLane[2] = 16
        trace.add(gatewayA, badLane)
        trace.add(gatewayA, plaintextKeepalive(stream: 5))
        let counters = trace.summary.counters
        #expect(counters.datagrams == 3 + 2 + 6)
        #expect(counters.otherSources == 3)
        #expect(counters.handshakes == 1)
        #expect(counters.ignored == 5)
        #expect(counters.unsequenced == 1)
        #expect(counters.frames == 2)
        #expect(trace.summary.streams.count == 1)
        #expect(trace.summary.total.lost == 1)
    }

    @Test("a long random pattern with local reordering and duplicates comes out exactly")
    func randomPattern() throws {
        var random = SplitMix64(seed: 42)
        let count = 50_000
        var lost = Set<Int>()
        var arrivals: [UInt64] = []
        var inBurst = false
        for position in 0..<count {
            // Gilbert-like: bursts of a few, about 2 % lost; the first and last always arrive.
            inBurst = inBurst ? random.nextUnit() < 0.6 : random.nextUnit() < 0.01
            if inBurst && position > 0 && position < count - 1 { lost.insert(position) } else { arrivals.append(UInt64(position)) }
        }
        // Swap neighbours now and then (never the first: it starts the stream) and repeat a few.
        var late = 0
        var index = 1
        while index < arrivals.count - 2 {
            if random.nextUnit() < 0.02 {
                arrivals.swapAt(index, index + 1)
                late += 1
                index += 2
            } else {
                index += 1
            }
        }
        arrivals += [arrivals[17], arrivals[40_000], arrivals[12_345]]
        var trace = CaptureLossTrace()
        trace.addSealed(arrivals.map { $0 + (1 << 40) })
        let counts = trace.summary.total
        #expect(counts.expected == UInt64(count))
        #expect(counts.lost == UInt64(lost.count))
        #expect(counts.late == UInt64(late))
        #expect(counts.duplicates == 3)
        let pattern = trace.pattern()
        #expect(pattern == expectedPattern(count: count, lost: lost))
        // Bursts as counted from the pattern itself.
        var histogram = BurstHistogram()
        var run: UInt64 = 0
        for entry in pattern {
            if entry { run += 1 } else if run > 0 { histogram.record(length: run); run = 0 }
        }
        #expect(counts.bursts == histogram)
        // The trace file reads back as the same pattern.
        let text = CaptureLossTrace.traceText(pattern)
        #expect(text.split(separator: "\n").first?.split(separator: " ").count == 64)
        let model = try LossModel.parseTrace(text, source: "test")
        #expect(model == .trace(pattern))
    }

    @Test("the trace text is what LossModel.parseTrace reads")
    func traceText() throws {
        let pattern = (0..<130).map { $0 % 7 == 3 }
        let text = CaptureLossTrace.traceText(pattern)
        #expect(text.hasSuffix("\n"))
        #expect(text.split(separator: "\n").map { $0.split(separator: " ").count } == [64, 64, 2])
        #expect(try LossModel.parseTrace(text, source: "t") == .trace(pattern))
        #expect(CaptureLossTrace.traceText([]) == "")
    }
}

@Suite("Captured packet parsing")
struct CapturedDatagramTests {
    private let frame = sealedFrame(index: 0xABCD, counter: 77, size: 120)

    private func ethernet(_ ip: [UInt8], etherType: UInt16 = 0x0800, vlan: Bool = false) -> [UInt8] {
        let macs = [UInt8](repeating: 0x02, count: 12)
        let tag: [UInt8] = vlan ? PacketBuilder.be16(0x8100) + PacketBuilder.be16(42) : []
        return macs + tag + PacketBuilder.be16(etherType) + ip
    }

    @Test("Ethernet, 802.1Q, Linux cooked v1 and v2, raw IP and BSD loopback all lead to the same datagram")
    func linkTypes() throws {
        let ip = PacketBuilder.udp4(from: "198.18.1.1", to: "198.18.2.1", sourcePort: 4500, destinationPort: 4500, payload: frame)
        let sll: [UInt8] = [0, 0, 0, 1, 0, 6] + [UInt8](repeating: 0x02, count: 8) + PacketBuilder.be16(0x0800) + ip
        let sll2: [UInt8] = PacketBuilder.be16(0x0800) + [0, 0] + PacketBuilder.be32(3) + [0, 1, 0, 6] + [UInt8](repeating: 0x02, count: 8) + ip
        let loopback: [UInt8] = [2, 0, 0, 0] + ip
        let cases: [([UInt8], CaptureLinkType)] = [
            (ethernet(ip), .ethernet), (ethernet(ip, vlan: true), .ethernet), (sll, .linuxCooked), (sll2, .linuxCooked2),
            (ip, .rawIP), (loopback, .null),
        ]
        for (packet, linkType) in cases {
            guard case .udp(let datagram) = CapturedPacket.parse(packet, linkType: linkType) else {
                Issue.record("no datagram found over \(linkType)")
                continue
            }
            #expect(datagram.source == Endpoint("198.18.1.1:4500")!)
            #expect(datagram.destination == Endpoint("198.18.2.1:4500")!)
            #expect(Array(packet[datagram.payload]) == frame)
            #expect(datagram.wireLength == frame.count)
        }
        #expect(CaptureLinkType(dlt: 1) == .ethernet && CaptureLinkType(dlt: 276) == .linuxCooked2 && CaptureLinkType(dlt: 12) == .rawIP)
        #expect(CaptureLinkType(dlt: 127) == nil)
    }

    @Test("IPv6, with a first fragment's header; a later fragment, ARP, TCP and a cut-off header are told apart")
    func ipv6AndSkips() throws {
        let ip6 = PacketBuilder.udp6(from: "fd00:18::1", to: "fd00:18::2", payload: frame)
        guard case .udp(let datagram) = CapturedPacket.parse(ip6, linkType: .rawIP) else {
            Issue.record("no IPv6 datagram")
            return
        }
        #expect(datagram.source == Endpoint("[fd00:18::1]:40000")!)
        #expect(Array(ip6[datagram.payload]) == frame)
        // The same with a fragment header (offset 0, more fragments) in front of UDP.
        var fragmented = Array(ip6[0..<40]) + [17, 0, 0, 1, 0, 0, 0, 9] + Array(ip6[40...])
        fragmented[6] = 44
        fragmented[5] &+= 8
        #expect(CapturedPacket.parse(fragmented, linkType: .rawIP) == .udp(CapturedDatagram(
            source: datagram.source, destination: datagram.destination, payload: 56..<(56 + frame.count), wireLength: frame.count)))
        var later = fragmented
        later[43] = 0x08 | 1  // offset 1 (8 bytes)
        #expect(CapturedPacket.parse(later, linkType: .rawIP) == .laterFragment)

        var ip4 = PacketBuilder.udp4(from: "198.18.1.1", to: "198.18.2.1", payload: frame)
        ip4[6] = 0x20
        ip4[7] = 0xB9  // more fragments, offset 185
        #expect(CapturedPacket.parse(ip4, linkType: .rawIP) == .laterFragment)
        #expect(CapturedPacket.parse(ethernet([0, 1, 8, 0], etherType: 0x0806), linkType: .ethernet) == .notIP)
        let tcp = PacketBuilder.tcpSYN4(from: "10.0.0.1", to: "10.0.0.2", mss: 1400)
        #expect(CapturedPacket.parse(tcp, linkType: .rawIP) == .notUDP)
        let udp = PacketBuilder.udp4(from: "198.18.1.1", to: "198.18.2.1", payload: frame)
        #expect(CapturedPacket.parse(Array(udp.prefix(26)), linkType: .rawIP) == .truncated)
        #expect(CapturedPacket.parse([UInt8](repeating: 0xFF, count: 3), linkType: .ethernet) == .truncated)
    }

    @Test("a capture cut at 128 bytes still yields the frame's envelope, and the trace counts every packet")
    func snapLengthAndPipeline() {
        var trace = CaptureLossTrace(peer: Endpoint("198.18.1.1:4500")!)
        for counter: UInt64 in [0, 1, 3] {
            let payload = sealedFrame(index: 5, counter: counter, size: 1400)
            let packet = ethernet(PacketBuilder.udp4(from: "198.18.1.1", to: "198.18.2.1", sourcePort: 4500, destinationPort: 4500, payload: payload))
            let cut = Array(packet.prefix(128))
            if case .udp(let datagram) = CapturedPacket.parse(cut, linkType: .ethernet) {
                #expect(datagram.payload.count == 128 - 42)
                #expect(datagram.wireLength == 1400)
            } else {
                Issue.record("no datagram in a cut packet")
            }
            cut.withUnsafeBytes { trace.add(packet: $0, linkType: .ethernet) }
        }
        let arp = ethernet([0, 1, 8, 0, 6, 4], etherType: 0x0806)
        arp.withUnsafeBytes { trace.add(packet: $0, linkType: .ethernet) }
        let summary = trace.summary
        #expect(summary.counters.packets == 4)
        #expect(summary.counters.notUDP == 1)
        #expect(summary.counters.datagrams == 3)
        #expect(summary.total.expected == 4 && summary.total.lost == 1)
    }

    @Test("random bytes never trap, over every link type")
    func randomBytes() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            let length = Int(random.next() % 120)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var trace = CaptureLossTrace()
            for linkType: CaptureLinkType in [.ethernet, .linuxCooked, .linuxCooked2, .rawIP, .null] {
                _ = CapturedPacket.parse(bytes, linkType: linkType)
                bytes.withUnsafeBytes { trace.add(packet: $0, linkType: linkType) }
            }
            #expect(trace.summary.counters.packets == 5)
        }
    }
}
