import MaelstromCore
import MaelstromSecurity
import MaelstromTestKit
import MaelstromTun
import Testing

/// Two gateways' lane loops over in-memory seams, joined by a wire the test runs by hand.
private final class LoopPair {
    typealias Loop = DataPlaneLoop<InMemoryPacketDevice, InMemoryTransport, InMemoryWaiter, ManualClock>
    let clock = ManualClock()
    let deviceA = InMemoryPacketDevice()
    let deviceB = InMemoryPacketDevice()
    let transportA = InMemoryTransport(address: SocketAddress(Endpoint("198.18.1.1:4500")!)!)
    let transportB = InMemoryTransport(address: SocketAddress(Endpoint("198.18.2.1:4500")!)!)
    let a: Loop
    let b: Loop
    /// Datagrams lost on the wire from A to B (every n-th).
    var dropEveryAToB: Int? = nil
    private var wireCount = 0

    init(packetBatch: Int = 16, stallNanoseconds: UInt64 = 200_000_000, sealed: Bool = false) throws {
        let fec = FECParameters(r: 4, interleaves: [1, 5], flushAfterNanoseconds: 1_000_000, maxPacketSize: 1400)
        func settings(_ peer: String, _ subnet: String) -> GatewaySettings {
            GatewaySettings(
                peers: [PeerSettings(name: "peer", endpoint: Endpoint(peer)!, subnets: [IPPrefix(subnet)!])],
                fec: fec, decoder: DecoderParameters(for: fec), framing: sealed ? .sealed : .plaintext)
        }
        var securityA: LaneSecurity? = nil
        var securityB: LaneSecurity? = nil
        if sealed {
            let keyA = PrivateKey.generate()
            let keyB = PrivateKey.generate()
            let tunnelA = try SecureTunnel(settings: TunnelSettings(privateKey: keyA, peers: [(keyB.publicKey, nil)]), now: clock.time)
            let tunnelB = try SecureTunnel(settings: TunnelSettings(privateKey: keyB, peers: [(keyA.publicKey, nil)]), now: clock.time)
            securityA = LaneSecurity(lane: 0, tunnel: tunnelA)
            securityB = LaneSecurity(lane: 0, tunnel: tunnelB)
        }
        let gatewayA = Gateway(settings: settings("198.18.2.1:4500", "10.2.0.0/24"), streams: [11], now: clock.time)
        let gatewayB = Gateway(settings: settings("198.18.1.1:4500", "10.1.0.0/24"), streams: [22], now: clock.time)
        a = Loop(
            gateway: gatewayA, device: deviceA, transport: transportA, waiter: InMemoryWaiter(device: deviceA, transport: transportA),
            clock: clock, peerAddresses: [transportB.address], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil),
            packetBatch: packetBatch, datagramBatch: packetBatch, stallNanoseconds: stallNanoseconds, security: securityA)
        b = Loop(
            gateway: gatewayB, device: deviceB, transport: transportB, waiter: InMemoryWaiter(device: deviceB, transport: transportB),
            clock: clock, peerAddresses: [transportA.address], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil),
            packetBatch: packetBatch, datagramBatch: packetBatch, stallNanoseconds: stallNanoseconds, security: securityB)
    }

    /// Every datagram that crossed the wire, both ways.
    var wire: [[UInt8]] = []

    /// One turn of each side, with the wire carrying what each sent, and time moved on.
    func step(advance: UInt64 = 100_000) throws {
        try a.turn()
        for (bytes, _) in transportA.takeSent() {
            wireCount += 1
            wire.append(bytes)
            if let every = dropEveryAToB, wireCount % every == 0 { continue }
            transportB.incoming.append((bytes, transportA.address))
        }
        try b.turn()
        for (bytes, _) in transportB.takeSent() {
            wire.append(bytes)
            transportA.incoming.append((bytes, transportB.address))
        }
        clock.time += advance
    }
}

private func packets(_ count: Int, from: String = "10.1.0.2", to: String = "10.2.0.2") -> [[UInt8]] {
    (0..<count).map { index in
        PacketBuilder.udp4(from: from, to: to, payload: (0..<(40 + index % 900)).map { UInt8(truncatingIfNeeded: $0 &+ index) })
    }
}

@Suite("Data-plane loop over in-memory seams")
struct DataPlaneLoopTests {
    @Test("sealed: the lanes handshake by themselves, then packets cross byte for byte and nothing on the wire shows them")
    func sealedPacketsCross() throws {
        let pair = try LoopPair(sealed: true)
        var steps = 0
        while !(pair.a.security!.canSeal(peer: 0) && pair.b.security!.canSeal(peer: 0)) && steps < 2000 {
            try pair.step()
            steps += 1
        }
        #expect(steps < 2000, "both sides can seal")
        let sent = packets(400)
        pair.deviceA.incoming = sent
        for _ in 0..<400 { try pair.step() }
        #expect(pair.deviceB.written == sent)
        let marker = Array(sent[399].suffix(32))
        #expect(!pair.wire.contains { $0.firstRange(of: marker) != nil }, "no datagram carries a packet's bytes in the clear")
        #expect(pair.wire.allSatisfy { HandshakeWire.isHandshake(type: $0[1]) || $0[3] == WireFormat.sealedFlag })
        let counters = try #require(pair.b.gateway.counters(peer: 0) as PeerCounters?)
        #expect(counters.malformed == 0)
        #expect(pair.b.security!.counters(peer: 0).refused == 0)
    }

    @Test("sealed: forged and replayed datagrams from the peer's address reach neither the decoder nor the device")
    func sealedRefusesForgeries() throws {
        let pair = try LoopPair(sealed: true)
        for _ in 0..<200 { try pair.step() }
        let sent = packets(50)
        pair.deviceA.incoming = sent
        for _ in 0..<100 { try pair.step() }
        #expect(pair.deviceB.written == sent)
        let written = pair.deviceB.written.count
        let captured = pair.wire.filter { $0[3] == WireFormat.sealedFlag && $0[1] == FrameType.data.rawValue }
        // Replays of everything captured, plaintext frames, and random bytes, all from A's exact address.
        for bytes in captured { pair.transportB.incoming.append((bytes, pair.transportA.address)) }
        let plaintext = sent[0].withUnsafeBytes { packet in
            [UInt8](repeating: 0, count: 8).withUnsafeBytes { WireFormat.plaintextFrame(type: .data, header: $0, payload: packet) }
        }
        pair.transportB.incoming.append((plaintext, pair.transportA.address))
        // Random bytes, but never version 3 in front: about one such datagram in 500 would read as
        // a plaintext frame (version 3, flags 0) and be counted as refused plaintext, not garbage.
        var generator = SplitMix64(seed: 0x5EED_F0E6)
        for _ in 0..<20 {
            var garbage = (0..<200).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if garbage[0] == WireFormat.version { garbage[0] ^= 0x80 }
            pair.transportB.incoming.append((garbage, pair.transportA.address))
        }
        for _ in 0..<10 { try pair.step() }
        #expect(pair.deviceB.written.count == written)
        let refused = pair.b.security!.counters(peer: 0)
        #expect(refused.refusedReplay == UInt64(captured.count))
        #expect(refused.refusedPlaintext == 1)
        #expect(refused.refused >= UInt64(captured.count) + 1 + 15, "random bytes are refused too (a few may look like handshakes)")
        #expect(pair.b.gateway.counters(peer: 0).dataFramesReceived == UInt64(sent.count), "the decoder saw only genuine frames")
    }

    @Test("packets read in batches cross to the far device byte for byte and in order, slots reused 60 times over")
    func packetsCross() throws {
        let pair = try LoopPair(packetBatch: 16)
        let sent = packets(1000)
        pair.deviceA.incoming = sent
        for _ in 0..<400 { try pair.step() }
        #expect(pair.deviceB.written == sent)
        #expect(pair.a.dataPlaneCounters.sendBatches > 60)
    }

    @Test("losses on the wire are rebuilt by the far side before its device sees them")
    func lossesAreRebuilt() throws {
        let pair = try LoopPair()
        pair.dropEveryAToB = 37
        let sent = packets(600)
        pair.deviceA.incoming = sent
        for _ in 0..<800 { try pair.step() }
        #expect(Set(pair.deviceB.written) == Set(sent))
        #expect(pair.b.gateway.counters(peer: 0).rebuilt > 5)
    }

    @Test("a full socket queue: the lane stops reading, keeps receiving, waits for EPOLLOUT, loses nothing")
    func fullSendQueueNeverBlocksTheOtherDirection() throws {
        let pair = try LoopPair(packetBatch: 16)
        pair.transportA.sendRoom = 5
        pair.deviceA.incoming = packets(200)
        // The far side talks to A meanwhile: its packets must still get through A's receive path.
        let towardsA = packets(50, from: "10.2.0.2", to: "10.1.0.2")
        pair.deviceB.incoming = towardsA
        for _ in 0..<30 { try pair.step() }
        #expect(pair.a.dataPlaneCounters.sendBlocked >= 1)
        #expect(pair.deviceA.incoming.count > 100, "the lane stopped reading while its sends were pending")
        #expect(pair.deviceA.written == towardsA, "the other direction went on")
        #expect((pair.a.control.isStopRequested) == false)
        // The socket drains: everything pending goes, reading resumes, nothing was dropped.
        pair.transportA.sendRoom = nil
        for _ in 0..<300 { try pair.step() }
        #expect(pair.deviceB.written == packets(200))
        #expect(pair.a.dataPlaneCounters.sendQueueDrops == 0)
        #expect(pair.a.dataPlaneCounters.sendStallDrops == 0)
    }

    @Test("a socket that stays full longer than the stall limit: the pending frames are given up and counted")
    func stalledSocketDropsAndCounts() throws {
        let pair = try LoopPair(packetBatch: 16, stallNanoseconds: 50_000_000)
        pair.transportA.sendRoom = 3
        pair.deviceA.incoming = packets(16)
        for _ in 0..<20 { try pair.step(advance: 10_000_000) }
        #expect(pair.a.dataPlaneCounters.sendStallDrops > 0)
        // Once the socket works again, new packets flow.
        pair.transportA.sendRoom = nil
        pair.deviceA.incoming = packets(10)
        for _ in 0..<100 { try pair.step() }
        #expect(pair.deviceB.written.suffix(10) == packets(10)[...])
    }

    @Test("a busy direction does not starve the other: each turn handles at most a few batches of each")
    func fairness() throws {
        let pair = try LoopPair(packetBatch: 8)
        pair.deviceA.incoming = packets(5000)
        let towardsA = packets(20, from: "10.2.0.2", to: "10.1.0.2")
        pair.deviceB.incoming = towardsA
        for _ in 0..<10 { try pair.step() }
        #expect(pair.deviceA.written == towardsA, "replies crossed while A was flooded")
        #expect(pair.deviceA.incoming.count > 4000, "A read only a few batches per turn")
    }

    @Test("what the device and the socket refuse is counted by cause")
    func refusalsAreCounted() throws {
        let pair = try LoopPair()
        pair.deviceB.refuseWrites = true
        pair.deviceA.incoming = packets(20)
        for _ in 0..<50 { try pair.step() }
        // Device and socket tallies reach the counters when they are published (once a second).
        for _ in 0..<3 { try pair.step(advance: 600_000_000) }
        #expect(pair.b.dataPlaneCounters.tunWriteDropped >= 20)
        pair.transportA.refusedDestinations = [pair.transportB.address]
        pair.deviceA.incoming = packets(5)
        for _ in 0..<20 { try pair.step(advance: 600_000_000) }
        #expect(pair.a.dataPlaneCounters.udpSendRefused >= 5)
    }
}
