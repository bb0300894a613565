import CAllocationCounter
import MaelstromCore
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
        frame.copyMemory(from: header.baseAddress!, byteCount: header.count)
        (frame + header.count).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        decoder.receive(datagram: UnsafeRawBufferPointer(start: frame, count: header.count + payload.count), now: now, into: &sink)
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
        let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: 1400, alignment: 16)
        defer { packet.deallocate() }
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
