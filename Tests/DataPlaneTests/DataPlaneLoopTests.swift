import MaelstromCore
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

    init(packetBatch: Int = 16, stallNanoseconds: UInt64 = 200_000_000) {
        let fec = FECParameters(r: 4, interleaves: [1, 5], flushAfterNanoseconds: 1_000_000, maxPacketSize: 1400)
        func settings(_ peer: String, _ subnet: String) -> GatewaySettings {
            GatewaySettings(
                peers: [PeerSettings(name: "peer", endpoint: Endpoint(peer)!, subnets: [IPPrefix(subnet)!])],
                fec: fec, decoder: DecoderParameters(for: fec))
        }
        let gatewayA = Gateway(settings: settings("198.18.2.1:4500", "10.2.0.0/24"), streams: [11], now: clock.time)
        let gatewayB = Gateway(settings: settings("198.18.1.1:4500", "10.1.0.0/24"), streams: [22], now: clock.time)
        a = Loop(
            gateway: gatewayA, device: deviceA, transport: transportA, waiter: InMemoryWaiter(device: deviceA, transport: transportA),
            clock: clock, peerAddresses: [transportB.address], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil),
            packetBatch: packetBatch, datagramBatch: packetBatch, stallNanoseconds: stallNanoseconds)
        b = Loop(
            gateway: gatewayB, device: deviceB, transport: transportB, waiter: InMemoryWaiter(device: deviceB, transport: transportB),
            clock: clock, peerAddresses: [transportA.address], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil),
            packetBatch: packetBatch, datagramBatch: packetBatch, stallNanoseconds: stallNanoseconds)
    }

    /// One turn of each side, with the wire carrying what each sent, and time moved on.
    func step(advance: UInt64 = 100_000) throws {
        try a.turn()
        for (bytes, _) in transportA.takeSent() {
            wireCount += 1
            if let every = dropEveryAToB, wireCount % every == 0 { continue }
            transportB.incoming.append((bytes, transportA.address))
        }
        try b.turn()
        for (bytes, _) in transportB.takeSent() { transportA.incoming.append((bytes, transportB.address)) }
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
    @Test("packets read in batches cross to the far device byte for byte and in order, slots reused 60 times over")
    func packetsCross() throws {
        let pair = LoopPair(packetBatch: 16)
        let sent = packets(1000)
        pair.deviceA.incoming = sent
        for _ in 0..<400 { try pair.step() }
        #expect(pair.deviceB.written == sent)
        #expect(pair.a.dataPlaneCounters.sendBatches > 60)
    }

    @Test("losses on the wire are rebuilt by the far side before its device sees them")
    func lossesAreRebuilt() throws {
        let pair = LoopPair()
        pair.dropEveryAToB = 37
        let sent = packets(600)
        pair.deviceA.incoming = sent
        for _ in 0..<800 { try pair.step() }
        #expect(Set(pair.deviceB.written) == Set(sent))
        #expect(pair.b.gateway.counters(peer: 0).rebuilt > 5)
    }

    @Test("a full socket queue: the lane stops reading, keeps receiving, waits for EPOLLOUT, loses nothing")
    func fullSendQueueNeverBlocksTheOtherDirection() throws {
        let pair = LoopPair(packetBatch: 16)
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
        let pair = LoopPair(packetBatch: 16, stallNanoseconds: 50_000_000)
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
        let pair = LoopPair(packetBatch: 8)
        pair.deviceA.incoming = packets(5000)
        let towardsA = packets(20, from: "10.2.0.2", to: "10.1.0.2")
        pair.deviceB.incoming = towardsA
        for _ in 0..<10 { try pair.step() }
        #expect(pair.deviceA.written == towardsA, "replies crossed while A was flooded")
        #expect(pair.deviceA.incoming.count > 4000, "A read only a few batches per turn")
    }

    @Test("what the device and the socket refuse is counted by cause")
    func refusalsAreCounted() throws {
        let pair = LoopPair()
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
