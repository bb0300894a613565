import MaelstromCore
import MaelstromTestKit
import PropertyBased
import Testing

/// Frames of one encoder's stream, with the packets they carry.
private struct RecordedStream {
    let stream: StreamID
    var frames: [RecordedFrame]
    var packets: [[UInt8]]

    init(_ stream: StreamID, packets count: Int, parameters: FECParameters = smallParameters(), salt: Int = 0) {
        self.stream = stream
        let encoder = LayeredEncoder(parameters: parameters, stream: stream)
        var sink = RecordingFrameSink()
        packets = (0..<count).map { testPacket($0 + salt, length: 40 + ($0 * 37) % 500) }
        for packet in packets { encoder.encode(packet, into: &sink) }
        encoder.flush(into: &sink)
        frames = sink.frames
    }

    func keepalive(timestamp: UInt64, next: UInt32 = 0) -> RecordedFrame {
        keepaliveFrame(stream: stream, nextSequence: next, timestamp: timestamp)
    }
}

private func dataSequence(_ frame: RecordedFrame) -> UInt32? {
    frame.bytes.withUnsafeBytes { raw in
        guard case .data(let header, _) = try? Frame.parse(raw).frame else { return nil }
        return header.sequence
    }
}

private func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        result.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return result
}

@Suite("Stream lifecycle")
struct StreamLifecycleTests {
    @Test("restarted twice (A → B → C), a late datagram of A neither takes the decoder back nor is delivered again")
    func lateDatagramOfAnOldStream() {
        let a = RecordedStream(0xA, packets: 50)
        let b = RecordedStream(0xB, packets: 50, salt: 1000)
        let c = RecordedStream(0xC, packets: 80, salt: 2000)
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: smallParameters()))
        var sink = RecordingPacketSink()
        var now: UInt64 = 1_000
        func feed(_ frame: RecordedFrame) {
            now += 1_000
            decoder.receive(frame, now: now, into: &sink)
        }
        feed(a.keepalive(timestamp: 100))
        a.frames.forEach(feed)
        feed(b.keepalive(timestamp: 200))
        b.frames.forEach(feed)
        feed(c.keepalive(timestamp: 300))
        c.frames.prefix(40).forEach(feed)
        let straggler = a.frames.first { $0.kind == .data }!
        feed(straggler)
        // An old keepalive of A, delayed as long, does not bring A back either.
        feed(a.keepalive(timestamp: 150))
        c.frames.dropFirst(40).forEach(feed)

        #expect(decoder.currentStream == 0xC)
        #expect(decoder.counters.streamRestarts == 2)
        #expect(decoder.counters.staleStreamFrames == 1)
        #expect(decoder.counters.staleKeepalives == 1)
        let delivered = sink.packets.map(\.bytes)
        #expect(delivered == a.packets + b.packets + c.packets, "every packet once, in order, none of A twice")
    }

    @Test("the forged 13-byte datagram 01016161deadbeef0000000045, and its version-2 equivalent, stop nothing")
    func forgedNewStream() {
        let honest = RecordedStream(0x1234, packets: 120)
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: smallParameters()))
        var sink = RecordingPacketSink()
        decoder.receive(honest.keepalive(timestamp: 1), now: 0, into: &sink)
        // The datagram (a version-1 frame: refused as such now), and the same forgery
        // written as a well-formed version-2 frame of a new stream.
        let forgeries = [
            RecordedFrame(kind: .data, bytes: bytes(hex: "01016161deadbeef0000000045")),
            RecordedFrame(kind: .data, bytes: dataDatagram(stream: 0xDEAD_BEEF, sequence: 0, payload: [0x45])),
        ]
        for (index, frame) in honest.frames.enumerated() {
            if index == 30 || index == 31 { decoder.receive(forgeries[index - 30], now: 0, into: &sink) }
            decoder.receive(frame, now: 0, into: &sink)
        }
        #expect(decoder.counters.malformed == 1, "only the version-1 bytes are malformed now")
        #expect(decoder.currentStream == 0x1234)
        #expect(decoder.counters.streamRestarts == 0)
        #expect(sink.packets.map(\.bytes) == honest.packets)
    }

    @Test("a frame of the current stream 2³¹ − 1 ahead is refused: later frames are not late, nothing is counted lost")
    func farJumpOfOneFrame() {
        let honest = RecordedStream(5, packets: 100)
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: smallParameters()))
        var sink = RecordingPacketSink()
        let forged = dataDatagram(stream: 5, sequence: 40 &+ 0x7FFF_FFFF, payload: [0x45, 0, 0, 20])
        decoder.receive(honest.keepalive(timestamp: 1), now: 0, into: &sink)
        for frame in honest.frames {
            decoder.receive(frame, now: 0, into: &sink)
            // Right after packet 40, the highest so far: the forgery is exactly 2³¹ − 1 ahead.
            if dataSequence(frame) == 40 { decoder.receive(RecordedFrame(kind: .data, bytes: forged), now: 0, into: &sink) }
        }
        decoder.finish()
        #expect(decoder.counters.farJumpsRefused == 1)
        #expect(decoder.counters.late == 0)
        #expect(decoder.counters.unrecoverable == 0)
        #expect(sink.packets.map(\.bytes) == honest.packets)
    }

    @Test("a far jump is taken at once when the sender's keepalive says it got there, and after agreeing frames otherwise")
    func farJumpConfirmed() {
        let parameters = smallParameters()
        let window = UInt32(DecoderParameters(for: parameters).windowPackets)
        let encoder = LayeredEncoder(parameters: parameters, stream: 9)
        var frames = RecordingFrameSink()
        for index in 0..<20 { encoder.encode(testPacket(index, length: 100), into: &frames) }
        let early = frames.frames
        // An outage: the sender went on, and nothing of the next 10 windows arrived.
        var lost = RecordingFrameSink()
        for index in 0..<(Int(window) * 10) { encoder.encode(testPacket(index, length: 100), into: &lost) }
        var later = RecordingFrameSink()
        for index in 0..<30 { encoder.encode(testPacket(index + 7, length: 100), into: &later) }

        for viaKeepalive in [true, false] {
            let decoder = LayeredDecoder(parameters: DecoderParameters(for: parameters))
            var sink = RecordingPacketSink()
            decoder.receive(keepaliveFrame(stream: 9, timestamp: 1), into: &sink)
            for frame in early { decoder.receive(frame, into: &sink) }
            if viaKeepalive {
                decoder.receive(keepaliveFrame(stream: 9, nextSequence: 20 + window * 10 + 5, timestamp: 2), into: &sink)
            }
            let before = sink.packets.count
            for frame in later.frames { decoder.receive(frame, into: &sink) }
            let afterOutage = sink.packets.count - before
            if viaKeepalive {
                // All 30 (and perhaps a packet of the outage rebuilt from repairs that span it).
                #expect(afterOutage >= 30, "the keepalive vouched for the jump")
                #expect(decoder.counters.farJumpsRefused == 0)
            } else {
                // Frames before the third agreeing one are refused; the rest come through.
                #expect(decoder.counters.farJumpsRefused == 2)
                #expect(afterOutage >= 30 - 2)
            }
        }
    }

    @Test("a live stream is not replaced by frames alone, however many; a silent one is, after three")
    func framesAloneNeedSilence() {
        let live = RecordedStream(1, packets: 60)
        let other = RecordedStream(2, packets: 60, salt: 500)
        let silence = StreamConfirmation().silenceNanoseconds
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: smallParameters()))
        var sink = RecordingPacketSink()
        decoder.receive(live.keepalive(timestamp: 1), now: 0, into: &sink)
        for frame in live.frames.prefix(30) { decoder.receive(frame, now: 10, into: &sink) }
        for frame in other.frames.prefix(20) { decoder.receive(frame, now: 20, into: &sink) }
        #expect(decoder.currentStream == 1)
        for frame in live.frames.dropFirst(30) { decoder.receive(frame, now: 30, into: &sink) }
        #expect(sink.packets.map(\.bytes) == live.packets)
        // The live stream falls silent for good (its sender died and came back unable to say so).
        let later = 30 + silence
        for frame in other.frames.dropFirst(20) { decoder.receive(frame, now: later, into: &sink) }
        #expect(decoder.currentStream == 2)
        #expect(decoder.counters.streamRestarts == 1)
    }

    @Test("a stream brought back by a fresh keepalive resumes after where it was left: nothing twice")
    func resumedStreamDeliversNothingTwice() {
        let honest = RecordedStream(7, packets: 100)
        let intruder = RecordedStream(8, packets: 10, salt: 900)
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: smallParameters()))
        var sink = RecordingPacketSink()
        decoder.receive(honest.keepalive(timestamp: 10), now: 0, into: &sink)
        for frame in honest.frames.prefix(60) { decoder.receive(frame, now: 0, into: &sink) }
        // Two forged datagrams (a keepalive with a newer stamp and a frame) can move an
        // unauthenticated decoder; the honest sender's next keepalive moves it back.
        decoder.receive(intruder.keepalive(timestamp: 50), now: 0, into: &sink)
        decoder.receive(intruder.frames[0], now: 0, into: &sink)
        #expect(decoder.currentStream == 8)
        decoder.receive(honest.keepalive(timestamp: 60), now: 0, into: &sink)
        // Replayed frames of the honest stream (already delivered), then the rest.
        for frame in honest.frames { decoder.receive(frame, now: 0, into: &sink) }
        #expect(decoder.currentStream == 7)
        let honestDelivered = sink.packets.filter { honest.packets.contains($0.bytes) }.map(\.bytes)
        #expect(Set(honestDelivered).count == honestDelivered.count, "no honest packet twice")
        #expect(Set(honestDelivered) == Set(honest.packets))
    }

    @Test("a stream switch costs the same at the largest window as at a small one (O(1), not O(window))")
    func switchCostDoesNotGrowWithTheWindow() {
        // Built before the clock starts: one data frame per stream.
        let frames = (1...200).map { dataDatagram(stream: StreamID(UInt32($0)), sequence: 5, payload: [0x45]) }
        func timeSwitches(window: Int) -> Double {
            let parameters = DecoderParameters(maxPacketSize: 64, windowPackets: window, repairCapacity: 64, holdNanoseconds: 1_000_000_000)
            let decoder = LayeredDecoder(parameters: parameters)
            var sink = RecordingPacketSink()
            let clock = ContinuousClock()
            let elapsed = clock.measure {
                for index in 1...200 {
                    let stream = StreamID(UInt32(index))
                    decoder.receive(keepaliveFrame(stream: stream, timestamp: UInt64(index)), into: &sink)
                    decoder.receive(RecordedFrame(kind: .data, bytes: frames[index - 1]), into: &sink)
                }
            }
            #expect(decoder.counters.streamRestarts == 199)
            return Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds)
        }
        _ = timeSwitches(window: 1024)
        let small = timeSwitches(window: 1024)
        let large = timeSwitches(window: DecoderParameters.maxWindowPackets)
        // A window 1024 times larger; before, each switch cleared it (about 20 ms at the largest).
        #expect(large < small * 20 + 0.02, "200 switches took \(large) s at the largest window, \(small) s at 1024")
    }

    @Test("random strangers' streams, stale streams, duplicates and far jumps never hold the honest stream up, nor deliver twice")
    func honestStreamSurvivesNoise() async {
        await propertyCheck(count: 120, input: Gen.uint64(), Gen.int(in: 0...60)) { seed, noisePercent in
            var random = SplitMix64(seed: seed)
            let parameters = smallParameters()
            let retired = [RecordedStream(0x51, packets: 40, salt: 3000), RecordedStream(0x52, packets: 40, salt: 4000)]
            let honest = RecordedStream(0x77, packets: 300)
            let stranger = RecordedStream(StreamID(UInt32(truncatingIfNeeded: seed) | 0x1000_0000), packets: 60, salt: 5000)
            let decoder = LayeredDecoder(parameters: DecoderParameters(for: parameters))
            var sink = RecordingPacketSink()
            var now: UInt64 = 0
            var stamp: UInt64 = 1
            // The sender ran two streams before the honest one (so this decoder followed them).
            for old in retired {
                decoder.receive(old.keepalive(timestamp: stamp), now: now, into: &sink)
                stamp += 1
                for frame in old.frames { decoder.receive(frame, now: now, into: &sink) }
            }
            decoder.receive(honest.keepalive(timestamp: stamp), now: now, into: &sink)
            let honestStart = sink.packets.count
            var noise: [RecordedFrame] = []
            for old in retired { noise += old.frames }
            noise += stranger.frames
            let strangers = noise.count
            for (index, frame) in honest.frames.enumerated() {
                now += 100_000
                if index % 25 == 0 {
                    stamp += 1
                    decoder.receive(honest.keepalive(timestamp: stamp, next: UInt32(index)), now: now, into: &sink)
                    // A delayed keepalive of an older stream.
                    decoder.receive(retired[Int(random.next() % 2)].keepalive(timestamp: 1), now: now, into: &sink)
                }
                while Int(random.next() % 100) < noisePercent {
                    // Old streams' and a stranger's frames, and copies of honest frames already sent.
                    let pick = Int(random.next() % UInt64(strangers + index + 1))
                    var extra = pick < strangers ? noise[pick] : honest.frames[pick - strangers]
                    if random.next() % 5 == 0, extra.bytes[1] == FrameType.data.rawValue {
                        // A far jump: same stream, a sequence number far ahead (the checksum redone).
                        let sequence = UInt32(truncatingIfNeeded: random.next()) | 0x4000_0000
                        let stream = StreamID(extra.bytes[4...7].reduce(0) { $0 << 8 | UInt32($1) })
                        extra.bytes.withUnsafeMutableBytes { DataFrameHeader(stream: stream, sequence: sequence).write(to: $0.baseAddress!) }
                    }
                    decoder.receive(extra, now: now, into: &sink)
                }
                decoder.receive(frame, now: now, into: &sink)
            }
            let delivered = sink.packets.dropFirst(honestStart).map(\.bytes)
            #expect(decoder.currentStream == honest.stream)
            #expect(Set(delivered).count == delivered.count, "a packet was delivered twice")
            #expect(delivered.filter { honest.packets.contains($0) } == honest.packets, "the honest stream lost or reordered packets")
        }
    }

    @Test("through a gateway pair: a forged frame of a new stream from the peer's address changes nothing")
    func gatewayIgnoresForgedStream() {
        let pair = GatewayPair(delayNanoseconds: 1_000_000)
        pair.advance(by: 10_000_000)
        for index in 0..<50 {
            pair.sendFromA(PacketBuilder.udp4(from: "10.1.0.2", to: "10.2.0.2", payload: [UInt8(index)]))
            if index == 20 { pair.injectIntoB(dataDatagram(stream: 0xDEAD_BEEF, sequence: 0, payload: [0x45])) }
            pair.advance(by: 1_000_000)
        }
        pair.advance(by: 500_000_000)
        #expect(pair.deliveredAtB.count == 50)
        #expect(pair.b.counters(peer: 0).streamRestarts == 0)
    }
}
