import MaelstromCore
import PropertyBased
import Testing

/// Which packets can be recovered from the frames that arrived, by peeling on sequence sets only:
/// an independent oracle that knows nothing of the decoder's buffers, slots or pool.
private func recoverable(dataArrived: Set<Int>, repairs: [[Int]]) -> Set<Int> {
    var known = dataArrived
    var changed = true
    while changed {
        changed = false
        for members in repairs {
            let missing = members.filter { !known.contains($0) }
            if missing.count == 1 {
                known.insert(missing[0])
                changed = true
            }
        }
    }
    return known
}

@Suite("Codec properties")
struct CodecPropertyTests {
    @Test("any loss, order and duplication: exactly the recoverable packets are delivered, once, byte for byte")
    func deliversExactlyTheRecoverable() async {
        // r, layers, packets, loss in percent, and a seed for lengths, losses and order.
        await propertyCheck(
            count: 150, input: Gen.int(in: 2...6), Gen.int(in: 1...3), Gen.int(in: 1...400), Gen.int(in: 0...40), Gen.uint64()
        ) { r, layers, count, lossPercent, seed in
            let depths: [Int] = [1, r + 1, (r + 1) * (r + 1)]
            let interleaves = Array(depths.prefix(layers))
            let parameters = FECParameters(r: r, interleaves: interleaves, flushAfterNanoseconds: 1_000_000, maxPacketSize: 1500)
            var random = SplitMix64(seed: seed)
            var packets: [[UInt8]] = []
            for index in 0..<count {
                let length = 1 + Int(random.next() % 1500)
                packets.append(testPacket(index + Int(seed % 1000), length: length))
            }
            let encoder = LayeredEncoder(parameters: parameters, stream: StreamID(UInt32(truncatingIfNeeded: seed) | 1))
            var recorder = RecordingFrameSink()
            for packet in packets { encoder.encode(packet, into: &recorder) }
            encoder.flush(into: &recorder)

            var arrived = recorder.frames.filter { _ in Int(random.next() % 100) >= lossPercent }
            // Network duplication of some frames, then any order at all.
            arrived += arrived.filter { _ in random.next() % 10 == 0 }
            arrived.shuffle(using: &random)
            // The sender's keepalive, anywhere among them: it confirms a stream too short to confirm
            // itself, and whatever was held until then must still be delivered.
            arrived.insert(
                keepaliveFrame(stream: encoder.stream, nextSequence: UInt32(count)),
                at: Int(random.next() % UInt64(arrived.count + 1)))

            var dataArrived = Set<Int>()
            var repairMembers: [[Int]] = []
            for frame in arrived {
                frame.bytes.withUnsafeBytes { raw in
                    switch try? Frame.parse(raw).frame{
                    case .data(let header, _)?: dataArrived.insert(Int(header.sequence))
                    case .repair(let header, _)?:
                        repairMembers.append(
                            (0..<Int(header.count)).map { Int(header.firstSequence) + $0 * Int(header.stride) })
                    default: break
                    }
                }
            }
            let expected = recoverable(dataArrived: dataArrived, repairs: repairMembers)

            let decoder = LayeredDecoder(parameters: DecoderParameters(for: parameters))
            var sink = RecordingPacketSink()
            for frame in arrived { decoder.receive(frame, into: &sink) }
            let delivered = sink.packets.map { Int($0.sequence - streamBase) }
            #expect(delivered.count == Set(delivered).count, "a packet was delivered twice")
            #expect(Set(delivered) == expected)
            for packet in sink.packets {
                #expect(packet.bytes == packets[Int(packet.sequence - streamBase)])
            }
            decoder.finish()
            #expect(decoder.counters.received + decoder.counters.rebuilt == UInt64(delivered.count))
            #expect(decoder.counters.malformed == 0)
        }
    }

    @Test("frames with truncated or bit-flipped headers, and garbage, never trap the decoder nor deliver wrong bytes")
    func corruptedFrames() async {
        await propertyCheck(count: 200, input: Gen.uint64(), Gen.int(in: 0...2)) { seed, corruption in
            let parameters = smallParameters()
            var random = SplitMix64(seed: seed)
            let packets = (0..<100).map { testPacket($0, length: 1 + Int(random.next() % 1000)) }
            let encoder = LayeredEncoder(parameters: parameters, stream: 5)
            var recorder = RecordingFrameSink()
            for packet in packets { encoder.encode(packet, into: &recorder) }
            let decoder = LayeredDecoder(parameters: DecoderParameters(for: parameters))
            var sink = RecordingPacketSink()
            for var frame in recorder.frames {
                if random.next() % 4 == 0 {
                    switch corruption {
                    // The header is Maelstrom's to check; the payload is covered by the UDP checksum.
                    case 0: frame.bytes = Array(frame.bytes.prefix(Int(random.next() % UInt64(WireFormat.dataFrameHeadroom + 1))))
                    case 1: frame.bytes[Int(random.next() % UInt64(WireFormat.dataFrameHeadroom))] ^= 0x40
                    default: frame.bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                    }
                }
                decoder.receive(frame, into: &sink)
            }
            for packet in sink.packets {
                let index = Int(packet.sequence - streamBase)
                #expect(index >= 0 && index < packets.count)
                if index >= 0 && index < packets.count { #expect(packet.bytes == packets[index]) }
            }
        }
    }
}
