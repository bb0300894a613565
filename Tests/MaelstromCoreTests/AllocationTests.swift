import CAllocationCounter
import MaelstromCore
import MaelstromTestKit
import Testing

/// Sends frames straight into a decoder through a fixed buffer, dropping some: allocates nothing.
private struct LossyLoopback: FrameSink {
    let decoder: LayeredDecoder
    let frame: UnsafeMutableRawPointer
    var loss: LossProcess
    var now: UInt64 = 0
    var sink = CountingPacketSink()

    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
        if loss.nextIsLost() { return }
        let headerEnd = WireFormat.envelopeSize + header.count
        (frame + WireFormat.envelopeSize).copyMemory(from: header.baseAddress!, byteCount: header.count)
        (frame + headerEnd).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        WireFormat.writePlaintextEnvelope(frame, type: kind == .data ? .data : .repair, lane: 0)
        decoder.receive(datagram: UnsafeRawBufferPointer(start: frame, count: headerEnd + payload.count), now: now, into: &sink)
    }
}

private struct CountingPacketSink: PacketSink {
    var delivered = 0
    var rebuilt = 0
    mutating func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        delivered += 1
        if recovery != nil { rebuilt += 1 }
    }
}

@Suite("Allocations on the packet path")
struct AllocationTests {
    @Test("the counter sees allocations (so a zero below means something)")
    func counterWorks() {
        allocation_counter_start()
        let array = [Int](repeating: 1, count: 1000)
        let count = allocation_counter_stop()
        #expect(array.count == 1000)
        #expect(count >= 1)
    }

    @Test("steady-state encode, lossy decode, rebuild and ticks allocate nothing per packet")
    func zeroAllocations() {
        let parameters = FECParameters.default
        let encoder = LayeredEncoder(parameters: parameters, stream: 1)
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: parameters))
        let frame = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 16)
        defer { frame.deallocate() }
        // A packet slot as the daemon's: room in front for the frame's headers.
        let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 1400 + 32, alignment: 64)
        defer { slot.deallocate() }
        let packet = UnsafeMutableRawBufferPointer(rebasing: slot[64..<(64 + 1400)])
        packet.initializeMemory(as: UInt8.self, repeating: 0x5A)
        var link = LossyLoopback(decoder: decoder, frame: frame, loss: LossProcess(model: .bernoulli(p: 0.02), seed: 3))

        func run(_ range: Range<Int>) {
            for index in range {
                link.now = UInt64(index) * 10_000
                let length = 64 + (index * 131) % 1336
                encoder.encode(UnsafeRawBufferPointer(rebasing: packet[..<length]), now: link.now, into: &link)
                encoder.tick(now: link.now, into: &link)
                decoder.tick(now: link.now)
            }
        }
        run(0..<20_000)  // warm up: every bin, slot and pool entry used at least once
        allocation_counter_start()
        run(20_000..<120_000)
        let allocations = allocation_counter_stop()
        #expect(allocations == 0, "\(allocations) heap allocations in 100000 packets")
        #expect(link.sink.rebuilt > 1000, "the lossy path (rebuilds) was exercised")
    }
}

/// Passes B's frames straight into gateway A's inbound path: in place, or through one fixed buffer.
private struct GatewayLoopback: GatewayOutput {
    let receiver: Gateway
    let frame: UnsafeMutableRawPointer
    var loss: LossProcess
    var now: UInt64 = 0
    var delivered = 0
    var inPlace = 0

    mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID) {
        inPlace += 1
        pass(frame)
    }

    mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {
        let length = write(frame)
        pass(UnsafeRawBufferPointer(start: frame, count: length))
    }

    private mutating func pass(_ datagram: UnsafeRawBufferPointer) {
        if loss.nextIsLost() { return }
        var sink = CountingOutput()
        receiver.inbound(datagram, from: Endpoint(address: .v4(0xC612_0101), port: 4500), now: now, into: &sink)
        delivered += sink.delivered
    }

    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID) {}
}

private struct CountingOutput: GatewayOutput {
    var delivered = 0
    mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID) {}
    mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {}
    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID) { delivered += 1 }
}

extension AllocationTests {
    @Test("the gateway's outbound and inbound paths, keepalives and ticks allocate nothing per packet")
    func gatewayZeroAllocations() {
        let fec = FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400)
        func settings(_ endpoint: String, _ subnet: String) -> GatewaySettings {
            GatewaySettings(
                peers: [PeerSettings(name: "peer", endpoint: Endpoint(endpoint)!, subnets: [IPPrefix(subnet)!])],
                fec: fec, decoder: DecoderParameters(for: fec), keepaliveIntervalNanoseconds: 1_000_000)
        }
        let sender = Gateway(settings: settings("198.18.2.1:4500", "10.2.0.0/24"), streams: [7], now: 0)
        let receiver = Gateway(settings: settings("198.18.1.1:4500", "10.1.0.0/24"), streams: [8], now: 0)
        let frame = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 16)
        defer { frame.deallocate() }
        var link = GatewayLoopback(receiver: receiver, frame: frame, loss: LossProcess(model: .bernoulli(p: 0.02), seed: 8))
        let syn = PacketBuilder.tcpSYN4(from: "10.1.0.2", to: "10.2.0.2", mss: 1460)
        let udp = PacketBuilder.udp4(from: "10.1.0.2", to: "10.2.0.2", payload: [UInt8](repeating: 7, count: 1200))
        // A packet slot as the daemon's: room in front for the frame's headers.
        let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 1400 + 32, alignment: 64)
        defer { slot.deallocate() }
        let packet = UnsafeMutableRawBufferPointer(rebasing: slot[64..<(64 + 1400)])

        func run(_ range: Range<Int>) {
            for index in range {
                link.now = UInt64(index) * 20_000
                let source = index % 50 == 0 ? syn : udp
                source.withUnsafeBytes { packet.copyMemory(from: $0) }
                let buffer = PacketBuffer(bytes: UnsafeMutableRawBufferPointer(rebasing: packet[..<source.count]), headroom: 64, tailroom: 32)
                sender.outbound(buffer, now: link.now, into: &link)
                sender.tick(now: link.now, into: &link)
                var sink = CountingOutput()
                receiver.tick(now: link.now, into: &sink)
            }
        }
        run(0..<20_000)
        _ = sender.takeEvents()
        _ = receiver.takeEvents()
        allocation_counter_start()
        run(20_000..<70_000)
        let allocations = allocation_counter_stop()
        #expect(allocations == 0, "\(allocations) heap allocations in 50000 packets")
        #expect(receiver.counters(peer: 0).rebuilt > 500)
        #expect(sender.counters(peer: 0).mssClamped >= 1000)
        #expect(link.inPlace > 40_000, "data frames were built in front of their packets")
    }
}

extension AllocationTests {
    @Test("splitting super-segments, completing checksums and coalescing writes allocate nothing")
    func offloadZeroAllocations() {
        let payload = (0..<(44 * 1360)).map { UInt8(truncatingIfNeeded: $0) }
        let superSegment = PacketBuilder.tcp(from: "10.1.0.2", to: "10.2.0.2", sequence: 1, payload: payload)
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksum, gsoType: .tcpv4, headerLength: 40, gsoSize: 1360, checksumStart: 20, checksumOffset: 16)
        let slots = UnsafeMutableRawPointer.allocate(byteCount: 64 * 2048, alignment: 64)
        defer { slots.deallocate() }
        let headers = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 64)
        defer { headers.deallocate() }
        let coalescer = SegmentCoalescer(capacity: 64)
        func run(_ rounds: Int) -> Int {
            var groups = 0
            superSegment.withUnsafeBytes { raw in
                for _ in 0..<rounds {
                    guard let plan = SegmentSplitter.plan(raw, header: header) else { return }
                    coalescer.reset()
                    for index in 0..<plan.segments {
                        let slot = slots + index * 2048
                        let length = SegmentSplitter.writeSegment(index, of: raw, plan: plan, into: slot)
                        _ = SegmentSplitter.completeChecksum(UnsafeMutableRawBufferPointer(start: slot, count: length), header: VirtioNetHeader(flags: 1, checksumStart: 20, checksumOffset: 16))
                        coalescer.add(UnsafeRawBufferPointer(start: slot, count: length))
                    }
                    for group in 0..<coalescer.groupTotal { _ = coalescer.writeHeaders(of: coalescer.group(group), into: headers) }
                    groups += coalescer.groupTotal
                }
            }
            return groups
        }
        _ = run(10)
        allocation_counter_start()
        let groups = run(2_000)
        let allocations = allocation_counter_stop()
        #expect(allocations == 0, "\(allocations) heap allocations in 88000 segments")
        #expect(groups == 2_000, "each super-segment split and coalesced back into one group")
    }
}
