import Foundation
import MaelstromCore

/// Codec throughput figures, in payload gigabytes of data packets per second.
struct CodecBenchmarkResult: Codable {
    var encodeGbytesPerS: Double
    var decodeGbytesPerS: Double
    var decodeLossyGbytesPerS: Double
    var memcpyGbytesPerS: Double
    /// memcpy of the lossless recording's data payloads into a decoder-sized ring of slots: the
    /// one copy a decoder cannot avoid, with the decoder's own memory traffic (frames streamed from
    /// memory, a window larger than the caches).
    var windowCopyGbytesPerS: Double
    var packetSize: Int
    var packetsPerRound: Int
    var lossyRebuilt: UInt64
    var lossyUnrecoverable: UInt64
}

/// Times the encoder, the decoder (with and without loss) and memcpy over the same packets.
///
/// Each decoder round gets a fresh decoder made before the clock starts; frames are encoded
/// beforehand into one buffer so decode rounds time only the decoder.
struct CodecBenchmark {
    let parameters: FECParameters
    let packetSize: Int
    let loss: Double
    let rounds: Int
    let distinctPackets = 4096

    var packetsPerRound: Int { max(20_000, min(200_000, 100_000_000 / packetSize)) }

    func run() -> CodecBenchmarkResult {
        var random = SplitMix64(seed: 42)
        let pool = UnsafeMutableRawBufferPointer.allocate(byteCount: distinctPackets * packetSize, alignment: 64)
        defer { pool.deallocate() }
        for index in 0..<pool.count { pool[index] = UInt8(truncatingIfNeeded: random.next()) }
        let packets = packetsPerRound
        let payloadBytes = Double(packets * packetSize)

        let memcpySeconds = best {
            // One cache-hot destination: the fastest copy there is, so the ratios are conservative.
            let destination = UnsafeMutableRawPointer.allocate(byteCount: packetSize, alignment: 64)
            defer { destination.deallocate() }
            return time {
                for index in 0..<packets {
                    let offset = (index % distinctPackets) * packetSize
                    destination.copyMemory(from: pool.baseAddress! + offset, byteCount: packetSize)
                    blackHole(destination)
                }
            }
        }

        let encodeSeconds = best {
            let encoder = LayeredEncoder(parameters: parameters, stream: 1)
            var sink = CountingSink()
            return time {
                for index in 0..<packets {
                    let offset = (index % distinctPackets) * packetSize
                    encoder.encode(
                        UnsafeRawBufferPointer(start: pool.baseAddress! + offset, count: packetSize), now: UInt64(index) * 1000,
                        into: &sink)
                }
                blackHole(sink.bytes)
            }
        }

        let lossless = FrameRecording(parameters: parameters, pool: pool, packetSize: packetSize, packets: packets, loss: 0)
        defer { lossless.release() }
        let lossy = FrameRecording(parameters: parameters, pool: pool, packetSize: packetSize, packets: packets, loss: loss)
        defer { lossy.release() }
        var lastLossy = DecoderCounters()
        let decodeSeconds = best { lossless.timeDecode().seconds }
        let windowCopySeconds = best { lossless.timeWindowCopy() }
        let lossySeconds = best {
            let (seconds, counters) = lossy.timeDecode()
            lastLossy = counters
            return seconds
        }
        return CodecBenchmarkResult(
            encodeGbytesPerS: payloadBytes / encodeSeconds / 1e9,
            decodeGbytesPerS: payloadBytes / decodeSeconds / 1e9,
            decodeLossyGbytesPerS: payloadBytes / lossySeconds / 1e9,
            memcpyGbytesPerS: payloadBytes / memcpySeconds / 1e9,
            windowCopyGbytesPerS: payloadBytes / windowCopySeconds / 1e9,
            packetSize: packetSize,
            packetsPerRound: packets,
            lossyRebuilt: lastLossy.rebuilt,
            lossyUnrecoverable: lastLossy.unrecoverable)
    }

    private func best(_ body: () -> Double) -> Double {
        var fastest = Double.infinity
        for _ in 0..<rounds { fastest = min(fastest, body()) }
        return fastest
    }
}

func time(_ body: () -> Void) -> Double {
    let clock = ContinuousClock()
    let elapsed = clock.measure(body)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

@inline(never)
func blackHole<T>(_ value: T) { _ = value }

/// Counts what an encoder emits without copying it, so `bench codec` times the encoder alone.
struct CountingSink: FrameSink {
    var bytes = 0
    var frames = 0
    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
        bytes &+= header.count &+ payload.count
        frames &+= 1
    }
}

/// A sink that only counts what a decoder delivers.
struct DeliveryCountingSink: PacketSink {
    var packets = 0
    mutating func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        packets &+= 1
    }
}

/// A stream of encoded frames kept in one buffer, some dropped by a Bernoulli loss.
final class FrameRecording {
    let parameters: FECParameters
    let storage: UnsafeMutableRawPointer
    var offsets: [Int] = []
    var lengths: [Int] = []

    init(parameters: FECParameters, pool: UnsafeMutableRawBufferPointer, packetSize: Int, packets: Int, loss: Double) {
        self.parameters = parameters
        struct Recorder: FrameSink {
            let storage: UnsafeMutableRawPointer?
            var used = 0
            var offsets: [Int] = []
            var lengths: [Int] = []
            var loss: LossProcess
            mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
                if loss.nextIsLost() { return }
                let length = WireFormat.envelopeSize + header.count + payload.count
                if let storage {
                    let frame = storage.advanced(by: used)
                    (frame + WireFormat.envelopeSize).copyMemory(from: header.baseAddress!, byteCount: header.count)
                    (frame + WireFormat.envelopeSize + header.count).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
                    WireFormat.writePlaintextEnvelope(frame, type: kind == .data ? .data : .repair, lane: 0)
                    offsets.append(used)
                    lengths.append(length)
                }
                used += length
            }
        }
        func encodeAll(into recorder: inout Recorder) {
            let encoder = LayeredEncoder(parameters: parameters, stream: 9)
            for index in 0..<packets {
                let offset = (index % (pool.count / packetSize)) * packetSize
                encoder.encode(
                    UnsafeRawBufferPointer(start: pool.baseAddress! + offset, count: packetSize), now: UInt64(index) * 1000,
                    into: &recorder)
            }
            encoder.flush(into: &recorder)
        }
        // The repairs of partly filled bins (staggered starts, the final flush) depend on the code,
        // so the room needed is measured by encoding once without storing, not estimated.
        var counter = Recorder(storage: nil, loss: LossProcess(model: .bernoulli(p: loss), seed: 7))
        encodeAll(into: &counter)
        storage = .allocate(byteCount: max(1, counter.used), alignment: 64)
        var recorder = Recorder(storage: storage, loss: LossProcess(model: .bernoulli(p: loss), seed: 7))
        encodeAll(into: &recorder)
        offsets = recorder.offsets
        lengths = recorder.lengths
    }

    func release() { storage.deallocate() }

    /// Copies every recorded data frame's packet into a ring of decoder-window slots, as the decoder
    /// must; returns the seconds taken.
    func timeWindowCopy() -> Double {
        let window = DecoderParameters(for: parameters).windowPackets
        let stride = (parameters.maxPacketSize + 63) & ~63
        let slots = UnsafeMutableRawPointer.allocate(byteCount: window * stride, alignment: 64)
        defer { slots.deallocate() }
        slots.initializeMemory(as: UInt8.self, repeating: 0, count: window * stride)
        let headroom = WireFormat.dataFrameHeadroom
        let count = offsets.count
        let seconds = offsets.withUnsafeBufferPointer { offsets in
            lengths.withUnsafeBufferPointer { lengths in
                time {
                    var slot = 0
                    for index in 0..<count {
                        let frame = storage + offsets[index]
                        // Data frames only (type 1), as the decoder copies only those.
                        guard frame.load(fromByteOffset: 1, as: UInt8.self) == FrameType.data.rawValue else { continue }
                        (slots + slot * stride).copyMemory(from: frame + headroom, byteCount: lengths[index] - headroom)
                        slot = (slot + 1) & (window - 1)
                    }
                }
            }
        }
        blackHole(slots)
        return seconds
    }

    /// Decodes every recorded frame with a fresh decoder; returns the seconds taken and its counters.
    func timeDecode() -> (seconds: Double, counters: DecoderCounters) {
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: parameters))
        var sink = DeliveryCountingSink()
        let count = offsets.count
        let seconds = offsets.withUnsafeBufferPointer { offsets in
            lengths.withUnsafeBufferPointer { lengths in
                time {
                    for index in 0..<count {
                        decoder.receive(
                            datagram: UnsafeRawBufferPointer(start: storage + offsets[index], count: lengths[index]),
                            now: UInt64(index) * 1000, into: &sink)
                    }
                }
            }
        }
        blackHole(sink.packets)
        return (seconds, decoder.counters)
    }
}
