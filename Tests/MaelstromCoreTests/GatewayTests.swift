import MaelstromCore
import MaelstromTestKit
import Testing

private let fec = FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400)

private func makeGateway(_ peers: [PeerSettings], clampMSS: Bool = true) -> Gateway {
    Gateway(
        settings: GatewaySettings(peers: peers, fec: fec, decoder: DecoderParameters(for: fec), clampMSS: clampMSS),
        streams: peers.indices.map { StreamID(UInt32($0 + 1)) }, now: 0)
}

private func peer(_ name: String, _ endpoint: String, _ subnets: [String]) -> PeerSettings {
    PeerSettings(name: name, endpoint: Endpoint(endpoint)!, subnets: subnets.map { IPPrefix($0)! })
}

private let threePeers = [
    peer("b", "198.18.2.1:4500", ["10.2.0.0/24", "2001:db8:2::/48"]),
    peer("c", "198.18.3.1:4500", ["10.3.0.0/16"]),
    peer("d", "198.18.4.1:4500", ["10.3.7.0/24"]),
]

@Suite("Gateway")
struct GatewayTests {
    @Test("packets go to the peer whose subnet holds the destination, longest prefix first")
    func routing() {
        let gateway = makeGateway(threePeers)
        var output = RecordingGatewayOutput()
        for (destination, expected) in [("10.2.0.9", 0), ("10.3.1.1", 1), ("10.3.7.200", 2)] as [(String, PeerID)] {
            var packet = PacketBuilder.udp4(from: "10.1.0.2", to: destination, payload: [1, 2, 3])
            packet.withUnsafeMutableBytes { gateway.outbound($0, now: 0, into: &output) }
            #expect(output.sent.last?.peer == expected, "\(destination)")
        }
        var v6 = PacketBuilder.udp6(from: "2001:db8:1::2", to: "2001:db8:2::77", payload: [9])
        v6.withUnsafeMutableBytes { gateway.outbound($0, now: 0, into: &output) }
        #expect(output.sent.last?.peer == 0)
        var nowhere = PacketBuilder.udp4(from: "10.1.0.2", to: "192.0.2.1", payload: [1])
        let before = output.sent.count
        nowhere.withUnsafeMutableBytes { gateway.outbound($0, now: 0, into: &output) }
        #expect(output.sent.count == before)
        #expect(gateway.counters.noRoute == 1)
        var garbage: [UInt8] = [0x99, 1, 2]
        garbage.withUnsafeMutableBytes { gateway.outbound($0, now: 0, into: &output) }
        #expect(gateway.counters.badPackets == 1)
    }

    @Test("packets cross the pair byte for byte in both directions, and WAN losses are rebuilt")
    func pairDelivers() {
        let pair = GatewayPair(loss: .bernoulli(p: 0.02), seed: 5)
        var sentToB: [[UInt8]] = []
        var sentToA: [[UInt8]] = []
        for index in 0..<3000 {
            let packet = PacketBuilder.udp4(from: "10.1.0.2", to: "10.2.0.2", payload: Array(repeating: UInt8(index % 251), count: 100 + index % 1200))
            sentToB.append(packet)
            pair.sendFromA(packet)
            if index % 3 == 0 {
                let reply = PacketBuilder.udp4(from: "10.2.0.2", to: "10.1.0.2", payload: [UInt8(index % 256)])
                sentToA.append(reply)
                pair.sendFromB(reply)
            }
            pair.advance(by: 20_000)
        }
        pair.advance(by: 2_000_000_000)
        #expect(pair.droppedAToB > 50)
        #expect(Set(pair.deliveredAtB) == Set(sentToB))
        #expect(pair.deliveredAtB.count == sentToB.count)
        #expect(pair.deliveredAtA.count == sentToA.count)
        let counters = pair.b.counters(peer: 0)
        #expect(counters.rebuilt > 40)
        #expect(counters.unrecoverable == 0)
        #expect(counters.recoveryLatency.count == counters.rebuilt)
        #expect(counters.lossRate > 0.01 && counters.lossRate < 0.03)
    }

    @Test("datagrams from unknown sources and garbage from the peer are counted and deliver nothing")
    func badInput() {
        let gateway = makeGateway(threePeers)
        var output = RecordingGatewayOutput()
        var random = SplitMix64(seed: 4)
        for _ in 0..<500 {
            let bytes = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            bytes.withUnsafeBytes { raw in
                gateway.inbound(raw, from: Endpoint("203.0.113.9:4500")!, now: 0, into: &output)
                gateway.inbound(raw, from: Endpoint("198.18.2.1:4501")!, now: 0, into: &output)
                gateway.inbound(raw, from: Endpoint("198.18.2.1:4500")!, now: 0, into: &output)
            }
        }
        #expect(gateway.counters.unknownSource == 1000)
        #expect(gateway.counters(peer: 0).malformed == 500)
        #expect(output.delivered.isEmpty)
        #expect(!gateway.isUp(peer: 0))
    }

    @Test("a valid frame whose payload is not an IP packet is not written to the TUN device")
    func nonIPPayload() {
        let gateway = makeGateway(threePeers)
        var output = RecordingGatewayOutput()
        // The peer's keepalive names its stream, so its first frame is decoded at once.
        keepaliveDatagram(stream: 77, timestamp: 5).withUnsafeBytes {
            gateway.inbound($0, from: Endpoint("198.18.2.1:4500")!, now: 0, into: &output)
        }
        dataDatagram(stream: 77, sequence: 0, payload: [0xDE, 0xAD, 0xBE, 0xEF]).withUnsafeBytes {
            gateway.inbound($0, from: Endpoint("198.18.2.1:4500")!, now: 0, into: &output)
        }
        #expect(output.delivered.isEmpty)
        #expect(gateway.counters(peer: 0).malformed == 1)
    }

    @Test("keepalives flow every interval, peers come up, go down after the timeout, and RTT is measured")
    func keepalives() {
        let pair = GatewayPair(delayNanoseconds: 25_000_000)
        pair.advance(by: 100_000_000)
        #expect(pair.a.isUp(peer: 0) && pair.b.isUp(peer: 0))
        #expect(pair.a.takeEvents() == [.peerUp(peer: 0)])
        pair.advance(by: 5_000_000_000)
        let counters = pair.a.counters(peer: 0)
        #expect(counters.keepalivesSent >= 5 && counters.keepalivesReceived >= 5)
        let rtt = pair.a.roundTripNanoseconds(peer: 0)
        #expect(rtt == 50_000_000)
        // B goes silent: A's WAN to B loses everything from now on.
        pair.lossBToA = LossProcess(model: .bernoulli(p: 1), seed: 1)
        pair.advance(by: 4_100_000_000)
        #expect(!pair.a.isUp(peer: 0))
        #expect(pair.a.takeEvents() == [.peerDown(peer: 0)])
    }

    @Test("in adaptive mode, data after a quiet spell brings the next delay probe within a probe interval")
    func probesFromTheFirstPacket() {
        let probe = AdaptationSettings.probeIntervalNanoseconds
        func gateway(_ mode: FECMode) -> Gateway {
            Gateway(
                settings: GatewaySettings(
                    peers: [threePeers[0]], fec: fec, decoder: DecoderParameters(for: fec),
                    adaptation: AdaptationSettings(mode: mode)),
                streams: [StreamID(1)], now: 0)
        }
        for mode in [FECMode.adaptive, .fixed] {
            let gateway = gateway(mode)
            var output = RecordingGatewayOutput()
            gateway.tick(now: 0, into: &output)
            #expect(gateway.counters(peer: 0).keepalivesSent == 1)
            // Idle until 0.4 s: the next keepalive is the interval's, at 1 s.
            #expect(gateway.nextDeadline >= 1_000_000_000 || gateway.nextDeadline < 400_000_000)
            var packet = PacketBuilder.udp4(from: "10.1.0.2", to: "10.2.0.9", payload: [1, 2, 3])
            packet.withUnsafeMutableBytes { gateway.outbound($0, now: 400_000_000, into: &output) }
            gateway.tick(now: 400_000_000 + probe, into: &output)
            // Adaptive: the probe goes 50 ms after the first packet; fixed: nothing before 1 s.
            #expect(gateway.counters(peer: 0).keepalivesSent == (mode == .adaptive ? 2 : 1), "\(mode)")
        }
    }

    @Test("a restarted peer is taken up again by itself, with no packet lost and no operator step")
    func restart() {
        let pair = GatewayPair()
        func burst(_ count: Int, from a: Bool) -> [[UInt8]] {
            (0..<count).map { index in
                let packet = a
                    ? PacketBuilder.udp4(from: "10.1.0.2", to: "10.2.0.2", payload: [UInt8(index % 256), 1])
                    : PacketBuilder.udp4(from: "10.2.0.2", to: "10.1.0.2", payload: [UInt8(index % 256), 2])
                if a { pair.sendFromA(packet) } else { pair.sendFromB(packet) }
                pair.advance(by: 100_000)
                return packet
            }
        }
        _ = burst(500, from: true)
        _ = burst(500, from: false)
        pair.advance(by: 1_000_000_000)
        #expect(pair.deliveredAtB.count == 500 && pair.deliveredAtA.count == 500)
        _ = pair.a.takeEvents()
        pair.restartB()
        let toA = burst(300, from: false)
        let toB = burst(300, from: true)
        pair.advance(by: 1_000_000_000)
        #expect(Array(pair.deliveredAtA.suffix(300)) == toA)
        #expect(pair.deliveredAtB.count == 800)
        #expect(Array(pair.deliveredAtB.suffix(300)) == toB)
        #expect(pair.a.takeEvents().contains(.peerRestarted(peer: 0, lane: 0)))
    }

    @Test("the MSS of TCP SYNs is clamped to the TUN MTU with a valid checksum; others pass untouched")
    func mssClamp() {
        let gateway = makeGateway(threePeers)
        var output = RecordingGatewayOutput()
        var syn = PacketBuilder.tcpSYN4(from: "10.1.0.2", to: "10.2.0.2", mss: 1460)
        #expect(PacketBuilder.tcpChecksumIsValid(syn))
        syn.withUnsafeMutableBytes { gateway.outbound($0, now: 0, into: &output) }
        let sent = Array(output.sent.last!.bytes[WireFormat.dataFrameHeadroom...])
        #expect(PacketBuilder.mss(of: sent) == 1360)
        #expect(PacketBuilder.tcpChecksumIsValid(sent))
        #expect(gateway.counters(peer: 0).mssClamped == 1)

        var small = PacketBuilder.tcpSYN4(from: "10.1.0.2", to: "10.2.0.2", mss: 1200, ack: true)
        let original = small
        small.withUnsafeMutableBytes { gateway.outbound($0, now: 0, into: &output) }
        #expect(Array(output.sent.last!.bytes[WireFormat.dataFrameHeadroom...]) == original)

        var v6 = PacketBuilder.tcpSYN6(from: "2001:db8:1::2", to: "2001:db8:2::2", mss: 1440)
        v6.withUnsafeMutableBytes { _ = MSSClamp.clamp($0, ipv4MSS: 1360, ipv6MSS: 1340) }
        #expect(PacketBuilder.mss(of: v6) == 1340)
        #expect(PacketBuilder.tcpChecksumIsValid(v6))

        let unclamped = makeGateway(threePeers, clampMSS: false)
        var again = PacketBuilder.tcpSYN4(from: "10.1.0.2", to: "10.2.0.2", mss: 1460)
        again.withUnsafeMutableBytes { unclamped.outbound($0, now: 0, into: &output) }
        #expect(PacketBuilder.mss(of: Array(output.sent.last!.bytes[WireFormat.dataFrameHeadroom...])) == 1460)
    }
}

@Suite("IP addresses and prefixes")
struct IPAddressTests {
    @Test("addresses parse and print in their usual forms", arguments: [
        "0.0.0.0", "10.2.0.1", "255.255.255.255", "::", "::1", "2001:db8::1", "2001:db8:0:1:1:1:1:1", "fe80::1:2",
    ])
    func roundTrip(text: String) {
        #expect(IPAddress(text)?.description == text)
    }

    @Test("bad addresses are refused", arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1::2::3", "12345::", "g::1", "1.2.3.4 "])
    func refused(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("prefixes contain, overlap and refuse host bits")
    func prefixes() {
        let prefix = IPPrefix("10.2.0.0/24")!
        #expect(prefix.contains(IPAddress("10.2.0.255")!))
        #expect(!prefix.contains(IPAddress("10.2.1.0")!))
        #expect(!prefix.contains(IPAddress("::1")!))
        #expect(IPPrefix("10.2.0.1/24") == nil)
        #expect(IPPrefix("10.2.0.0/33") == nil)
        #expect(IPPrefix("0.0.0.0/0")!.contains(IPAddress("8.8.8.8")!))
        #expect(IPPrefix("10.0.0.0/8")!.overlaps(prefix))
        #expect(!IPPrefix("10.3.0.0/16")!.overlaps(prefix))
        let v6 = IPPrefix("2001:db8::/32")!
        #expect(v6.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!v6.contains(IPAddress("2001:db9::1")!))
        #expect(IPPrefix("2001:db8::1/127") == nil)
        #expect(IPPrefix("2001:db8::/127")!.contains(IPAddress("2001:db8::1")!))
    }

    @Test("endpoints parse IPv4 and bracketed IPv6")
    func endpoints() {
        #expect(Endpoint("192.0.2.6:4500")?.port == 4500)
        #expect(Endpoint("[2001:db8::6]:4500")?.description == "[2001:db8::6]:4500")
        for bad in ["192.0.2.6", "192.0.2.6:99999", "2001:db8::6:4500", "[1.2.3.4]:1", "[::1]4500"] {
            #expect(Endpoint(bad) == nil, "\(bad)")
        }
    }
}
