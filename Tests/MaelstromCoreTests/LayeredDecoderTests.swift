import MaelstromCore
import Testing

/// Encodes `count` packets (lengths varying) and returns the frames and the packets.
private func encodedStream(
    _ count: Int, parameters: FECParameters = smallParameters(), flush: Bool = true, stream: StreamID = 7
) -> (frames: [RecordedFrame], packets: [[UInt8]]) {
    let encoder = LayeredEncoder(parameters: parameters, stream: stream)
    var sink = RecordingFrameSink()
    let packets = (0..<count).map { testPacket($0, length: 1 + ($0 * 53) % 900) }
    for packet in packets { encoder.encode(packet, into: &sink) }
    if flush { encoder.flush(into: &sink) }
    return (sink.frames, packets)
}

private func dataSequence(_ frame: RecordedFrame) -> UInt32? {
    frame.bytes.withUnsafeBytes { raw in
        guard case .data(let header, _) = try? Frame.parse(raw).frame else { return nil }
        return header.sequence
    }
}

private func decoder(for parameters: FECParameters = smallParameters()) -> LayeredDecoder {
    LayeredDecoder(parameters: DecoderParameters(for: parameters))
}

@Suite("Layered decoder")
struct LayeredDecoderTests {
    @Test("without loss every packet is delivered once, in order, and nothing is rebuilt")
    func lossless() {
        let (frames, packets) = encodedStream(300)
        let decoder = decoder()
        var sink = RecordingPacketSink()
        for frame in frames { decoder.receive(frame, into: &sink) }
        #expect(sink.packets.map(\.bytes) == packets)
        #expect(sink.packets.map(\.sequence) == (0..<300).map { streamBase + UInt64($0) })
        #expect(decoder.counters.received == 300)
        #expect(decoder.counters.rebuilt == 0)
        #expect(decoder.counters.repairsUnneeded == decoder.counters.repairsReceived)
    }

    @Test("a single lost packet is rebuilt byte for byte, with its true length, soon after")
    func singleLoss() throws {
        let (frames, packets) = encodedStream(100)
        let decoder = decoder()
        var sink = RecordingPacketSink()
        for frame in frames where dataSequence(frame) != 41 { decoder.receive(frame, into: &sink) }
        let rebuilt = sink.packets.filter(\.rebuilt)
        #expect(rebuilt.count == 1)
        let packet = try #require(rebuilt.first)
        #expect(packet.sequence == streamBase + 41)
        #expect(packet.bytes == packets[41])
        #expect(sink.packets.count == 100)
        // Layer 0 (r = 4, interleave 1) covers it within a few packets.
        let position = try #require(sink.packets.firstIndex { $0.rebuilt })
        #expect(position <= 41 + 4 + 1)
    }

    @Test("a burst longer than layer 0 can fix is rebuilt through the deeper layer")
    func burst() {
        let parameters = smallParameters(r: 4, interleaves: [1, 5])
        let (frames, packets) = encodedStream(200, parameters: parameters)
        let decoder = decoder(for: parameters)
        var sink = RecordingPacketSink()
        let lost = Set<UInt32>(60..<65)
        for frame in frames where !(dataSequence(frame).map(lost.contains) ?? false) {
            decoder.receive(frame, into: &sink)
        }
        #expect(sink.packets.count == 200)
        #expect(Set(sink.packets.map(\.sequence)).count == 200)
        for packet in sink.packets {
            #expect(packet.bytes == packets[Int(packet.sequence - streamBase)])
        }
        #expect(decoder.counters.rebuilt == 5)
    }

    @Test("peeling: a packet rebuilt by one layer completes a repair of another")
    func peeling() {
        // r = 2, interleaves 1 and 2: lose 0 and 1 (same layer-0 repair) and 2 (with 0 in layer 1).
        // Layer 1 repair {1, 3} rebuilds 1 → layer-0 {0, 1} rebuilds 0 → layer-1 {0, 2} rebuilds 2.
        let parameters = FECParameters(r: 2, interleaves: [1, 2], flushAfterNanoseconds: 1_000_000, maxPacketSize: 2048)
        let (frames, packets) = encodedStream(40, parameters: parameters)
        let decoder = decoder(for: parameters)
        var sink = RecordingPacketSink()
        for frame in frames where ![0, 1, 2].contains(dataSequence(frame) ?? 99) {
            decoder.receive(frame, into: &sink)
        }
        let rebuilt = sink.packets.filter(\.rebuilt)
        #expect(Set(rebuilt.map(\.sequence)) == [streamBase, streamBase + 1, streamBase + 2])
        for packet in rebuilt { #expect(packet.bytes == packets[Int(packet.sequence - streamBase)]) }
    }

    @Test("duplicates are counted and never delivered twice, also after a rebuild")
    func duplicates() {
        let (frames, _) = encodedStream(50)
        let decoder = decoder()
        var sink = RecordingPacketSink()
        let withoutTen = frames.filter { dataSequence($0) != 10 }
        for frame in withoutTen { decoder.receive(frame, into: &sink) }
        for frame in frames { decoder.receive(frame, into: &sink) }
        #expect(sink.packets.count == 50)
        #expect(decoder.counters.duplicates == 50)
    }

    @Test("repairs that arrive before their members are used once the members come")
    func repairsFirst() {
        let (frames, packets) = encodedStream(120)
        let decoder = decoder()
        var sink = RecordingPacketSink()
        let repairs = frames.filter { $0.kind == .repair }
        let data = frames.filter { $0.kind == .data && dataSequence($0) != 77 }
        for frame in repairs + data { decoder.receive(frame, into: &sink) }
        #expect(sink.packets.count == 120)
        #expect(sink.packets.first(where: { $0.sequence == streamBase + 77 })?.bytes == packets[77])
    }

    @Test("garbage is counted as malformed and delivers nothing")
    func malformed() {
        let decoder = decoder()
        var sink = RecordingPacketSink()
        for garbage in [[], [1], [UInt8](repeating: 0xFF, count: 100), [1, 1, 0, 0] + [UInt8](repeating: 0, count: 40)] {
            decoder.receive(RecordedFrame(kind: .data, bytes: garbage), into: &sink)
        }
        #expect(sink.packets.isEmpty)
        #expect(decoder.counters.malformed == 4)
        #expect(decoder.currentStream == nil)
    }

    @Test("a new stream named by the sender's fresh keepalive is taken up at once; stragglers of the old one are dropped")
    func streamRestart() {
        let first = encodedStream(60, stream: 1)
        let second = encodedStream(60, stream: 2)
        let decoder = decoder()
        var sink = RecordingPacketSink()
        decoder.receive(keepaliveFrame(stream: 1, timestamp: 10), into: &sink)
        for frame in first.frames.prefix(40) { decoder.receive(frame, into: &sink) }
        let before = sink.packets.count
        // The restarted sender announces its new stream, whose first packet was lost on the way:
        // it must still be rebuilt.
        decoder.receive(keepaliveFrame(stream: 2, timestamp: 20), into: &sink)
        for frame in second.frames where dataSequence(frame) != 0 { decoder.receive(frame, into: &sink) }
        for frame in first.frames.suffix(10) { decoder.receive(frame, into: &sink) }
        #expect(decoder.currentStream == 2)
        #expect(decoder.counters.streamRestarts == 1)
        #expect(decoder.counters.staleStreamFrames == 10)
        let newStream = sink.packets.dropFirst(before)
        let base = newStream.map(\.sequence).min() ?? 0
        #expect(newStream.map { $0.sequence - base }.sorted() == (0..<60).map { UInt64($0) })
        #expect(newStream.first(where: { $0.sequence == base })?.bytes == second.packets[0])
    }

    @Test("a decoder that joins a stream midway (own restart) delivers from there on")
    func joinMidway() {
        let (frames, _) = encodedStream(5000, parameters: .default)
        let decoder = decoder(for: .default)
        var sink = RecordingPacketSink()
        let start = frames.firstIndex { dataSequence($0) == 3000 }!
        for frame in frames[start...] { decoder.receive(frame, into: &sink) }
        #expect(sink.packets.count == 2000)
        #expect(decoder.counters.malformed == 0)
        // Repairs reaching back before the first packet seen are not used to rebuild old packets.
        #expect(sink.packets.allSatisfy { !$0.rebuilt })
    }

    @Test("a packet missing longer than the hold time is given up and counted; late copies are refused")
    func holdTimeExpiry() {
        let parameters = smallParameters()
        let (frames, _) = encodedStream(30, parameters: parameters, flush: false)
        let decoder = decoder(for: parameters)
        var sink = RecordingPacketSink()
        // Drop packet 5 and every repair: nothing can rebuild it.
        for frame in frames where frame.kind == .data && dataSequence(frame) != 5 { decoder.receive(frame, now: 0, into: &sink) }
        let hold = decoder.parameters.holdNanoseconds
        decoder.tick(now: hold - 1)
        #expect(decoder.counters.unrecoverable == 0)
        decoder.tick(now: hold)
        #expect(decoder.counters.unrecoverable == 1)
        decoder.receive(frames.first { dataSequence($0) == 5 }!, now: hold, into: &sink)
        #expect(decoder.counters.late == 1)
        #expect(sink.packets.count == 29)
    }

    @Test("packets that leave the window unrebuilt are counted as unrecoverable")
    func windowEviction() {
        let parameters = smallParameters()
        let window = DecoderParameters(for: parameters).windowPackets
        let (frames, _) = encodedStream(window + 100, parameters: parameters, flush: false)
        let decoder = decoder(for: parameters)
        var sink = RecordingPacketSink()
        for frame in frames where frame.kind == .data && dataSequence(frame) != 3 { decoder.receive(frame, into: &sink) }
        #expect(decoder.counters.unrecoverable == 1)
        decoder.finish()
        #expect(decoder.counters.unrecoverable == 1)
    }

    @Test("sequence numbers that wrap around 2³² decode without a seam")
    func wrapAround() {
        let parameters = smallParameters()
        let encoder = LayeredEncoder(parameters: parameters, stream: 3, initialSequence: (1 << 32) - 50)
        var frames = RecordingFrameSink()
        let packets = (0..<200).map { testPacket($0, length: 100) }
        for packet in packets { encoder.encode(packet, into: &frames) }
        let decoder = decoder(for: parameters)
        var sink = RecordingPacketSink()
        for frame in frames.frames where dataSequence(frame) != 0 && dataSequence(frame) != 0xFFFF_FFFF {
            decoder.receive(frame, into: &sink)
        }
        #expect(sink.packets.count == 200)
        #expect(decoder.counters.rebuilt == 2)
        let sequences = sink.packets.map(\.sequence).sorted()
        #expect(sequences.last! - sequences.first! == 199)
    }
}
