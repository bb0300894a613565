import MaelstromCore
import Testing

@Suite("Layered encoder")
struct LayeredEncoderTests {
    @Test("each packet becomes one data frame with the next sequence number and its bytes")
    func dataFrames() {
        let encoder = LayeredEncoder(parameters: smallParameters(), stream: 42)
        var sink = RecordingFrameSink()
        for index in 0..<20 { encoder.encode(testPacket(index, length: 10 + index), into: &sink) }
        #expect(sink.dataSequences == Array(0..<20))
        let data = sink.frames.filter { $0.kind == .data }
        for (index, frame) in data.enumerated() {
            #expect(Array(frame.bytes[WireFormat.dataFrameHeadroom...]) == testPacket(index, length: 10 + index))
        }
        #expect(encoder.counters.dataFrames == 20)
    }

    @Test("a repair is the XOR of its members padded to the longest, with the XOR of their lengths")
    func repairContents() {
        let encoder = LayeredEncoder(parameters: smallParameters(), stream: 1)
        var sink = RecordingFrameSink()
        let packets = (0..<200).map { testPacket($0, length: 1 + ($0 * 37) % 700) }
        for packet in packets { encoder.encode(packet, into: &sink) }
        encoder.flush(into: &sink)
        let repairs = sink.repairs
        #expect(!repairs.isEmpty)
        for (header, payload) in repairs {
            var expected = [UInt8](repeating: 0, count: 0)
            var lengths: UInt16 = 0
            for k in 0..<Int(header.count) {
                let member = packets[Int(header.firstSequence) + k * Int(header.stride)]
                if member.count > expected.count { expected += [UInt8](repeating: 0, count: member.count - expected.count) }
                for (offset, byte) in member.enumerated() { expected[offset] ^= byte }
                lengths ^= UInt16(member.count)
            }
            #expect(payload == expected)
            #expect(header.lengthXor == lengths)
        }
    }

    @Test("steady state sends c repairs per r data packets, each member interleave apart")
    func overheadAndStride() {
        let parameters = FECParameters.default
        let encoder = LayeredEncoder(parameters: parameters, stream: 1)
        var sink = RecordingFrameSink()
        for index in 0..<8000 { encoder.encode(testPacket(index % 16, length: 64), into: &sink) }
        let repairs = sink.repairs
        // Stagger and hold-back shift a few repairs past the end; the rate is c/r.
        #expect(abs(Double(repairs.count) / 8000 - 0.375) < 0.02)
        for (header, _) in repairs {
            #expect(Int(header.stride) == parameters.interleaves[Int(header.layer)])
            #expect(header.count >= 1 && Int(header.count) <= parameters.r)
        }
        #expect(encoder.counters.partialRepairs == 0)
    }

    @Test("staggered start spreads repairs: no window of r packets carries many more than c")
    func staggerSpreadsRepairs() {
        let parameters = FECParameters.default
        let encoder = LayeredEncoder(parameters: parameters, stream: 1)
        var sink = RecordingFrameSink()
        for index in 0..<4000 { encoder.encode(testPacket(index % 16, length: 64), into: &sink) }
        // Count repairs between consecutive data frames, then slide a window of r data frames.
        var repairsBeforeData: [Int] = []
        var pending = 0
        for frame in sink.frames {
            if frame.kind == .repair { pending += 1 } else { repairsBeforeData.append(pending); pending = 0 }
        }
        var worst = 0
        for start in 0...(repairsBeforeData.count - parameters.r) {
            worst = max(worst, repairsBeforeData[start..<(start + parameters.r)].reduce(0, +))
        }
        // Without stagger, the 100 bins of layer 2 would all fire within one stretch of 100 packets.
        #expect(worst <= 2 * parameters.c)
    }

    @Test("a full bin's repair waits until the next packet enters that bin")
    func holdBack() {
        let encoder = LayeredEncoder(parameters: smallParameters(r: 4, interleaves: [1, 4]), stream: 1)
        var sink = RecordingFrameSink()
        var emittedAfter: [Int: [RepairFrameHeader]] = [:]
        for index in 0..<64 {
            let before = sink.repairs.count
            encoder.encode(testPacket(index, length: 32), into: &sink)
            emittedAfter[index] = Array(sink.repairs[before...].map(\.header))
        }
        for (index, headers) in emittedAfter {
            for header in headers {
                let last = Int(header.firstSequence) + (Int(header.count) - 1) * Int(header.stride)
                // Emitted while encoding packet `index`, which is the next entrant of that bin.
                #expect(index == last + Int(header.stride), "layer \(header.layer) repair ending at \(last) left at \(index)")
            }
        }
    }

    @Test("a partly filled bin is flushed once its oldest member is older than its layer's deadline")
    func flushDeadline() {
        let parameters = smallParameters(r: 4, interleaves: [1, 4])
        let encoder = LayeredEncoder(parameters: parameters, stream: 1)
        var sink = RecordingFrameSink()
        encoder.encode(testPacket(0, length: 100), now: 0, into: &sink)
        encoder.encode(testPacket(1, length: 100), now: 0, into: &sink)
        #expect(encoder.nextDeadline == 1_000_000)
        encoder.tick(now: 999_999, into: &sink)
        // Layer 0 bin 0 fired at its staggered size 1 when packet 1 came; packet 1 waits alone.
        let before = sink.repairs.count
        encoder.tick(now: 1_000_000, into: &sink)
        let layer0 = sink.repairs[before...].filter { $0.header.layer == 0 }
        #expect(layer0.count == 1)
        #expect(encoder.hasPendingBins)
        encoder.tick(now: 4_000_000, into: &sink)
        #expect(!encoder.hasPendingBins)
        #expect(encoder.nextDeadline == nil)
        #expect(encoder.counters.partialRepairs >= 1)
    }

    @Test("empty and oversized packets are refused, counted and emit nothing")
    func refusals() {
        let encoder = LayeredEncoder(parameters: smallParameters(maxPacketSize: 100), stream: 1)
        var sink = RecordingFrameSink()
        #expect(!encoder.encode([], into: &sink))
        #expect(!encoder.encode([UInt8](repeating: 1, count: 101), into: &sink))
        #expect(encoder.encode([UInt8](repeating: 1, count: 100), into: &sink))
        #expect(sink.frames.count == 1)
        #expect(encoder.counters.rejectedPackets == 2)
    }

    @Test("sequence numbers wrap around 2³² on the wire")
    func wrapAround() {
        let encoder = LayeredEncoder(parameters: smallParameters(), stream: 1, initialSequence: (1 << 32) - 3)
        var sink = RecordingFrameSink()
        for index in 0..<6 { encoder.encode(testPacket(index, length: 20), into: &sink) }
        #expect(sink.dataSequences == [0xFFFF_FFFD, 0xFFFF_FFFE, 0xFFFF_FFFF, 0, 1, 2])
    }
}
