import MaelstromCore

/// One frame an encoder emitted, copied out of the encoder's buffers.
struct RecordedFrame: Equatable {
    var kind: FrameKind
    var bytes: [UInt8]
}

/// Keeps a copy of every frame an encoder emits (tests only: it allocates per frame).
struct RecordingFrameSink: FrameSink {
    var frames: [RecordedFrame] = []

    /// Frames are kept as whole plaintext datagrams (envelope included), as a peer receives them.
    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
        frames.append(
            RecordedFrame(kind: kind, bytes: WireFormat.plaintextFrame(type: kind == .data ? .data : .repair, header: header, payload: payload)))
    }

    var repairs: [(header: RepairFrameHeader, payload: [UInt8])] {
        frames.compactMap { frame in
            frame.bytes.withUnsafeBytes { raw -> (RepairFrameHeader, [UInt8])? in
                guard case .repair(let header, let payload) = try? Frame.parse(raw).frame else { return nil }
                return (header, Array(payload))
            }
        }
    }

    var dataSequences: [UInt32] {
        frames.compactMap { frame in
            frame.bytes.withUnsafeBytes { raw -> UInt32? in
                guard case .data(let header, _) = try? Frame.parse(raw).frame else { return nil }
                return header.sequence
            }
        }
    }
}

/// One packet a decoder delivered.
struct DeliveredPacket: Equatable {
    var sequence: UInt64
    var bytes: [UInt8]
    var rebuilt: Bool
}

/// Keeps a copy of every packet a decoder delivers.
struct RecordingPacketSink: PacketSink {
    var packets: [DeliveredPacket] = []

    mutating func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        packets.append(DeliveredPacket(sequence: sequence, bytes: Array(packet), rebuilt: recovery != nil))
    }
}

extension LayeredDecoder {
    /// Feeds one recorded frame.
    func receive(_ frame: RecordedFrame, now: UInt64 = 0, into sink: inout RecordingPacketSink) {
        frame.bytes.withUnsafeBytes { receive(datagram: $0, now: now, into: &sink) }
    }
}

extension LayeredEncoder {
    /// Encodes a packet given as bytes.
    @discardableResult
    func encode(_ bytes: [UInt8], now: UInt64 = 0, into sink: inout RecordingFrameSink) -> Bool {
        bytes.withUnsafeBytes { encode($0, now: now, into: &sink) }
    }
}

/// Deterministic test packet: `length` bytes derived from `index`.
func testPacket(_ index: Int, length: Int) -> [UInt8] {
    var random = SplitMix64(seed: UInt64(index) &* 7919 &+ 1)
    return (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
}

/// The first 64-bit sequence number a fresh decoder gives a stream that starts at 0.
let streamBase: UInt64 = 1 << 32

/// Small parameters with a short flush (1 ms) for readable tests.
func smallParameters(r: Int = 4, interleaves: [Int] = [1, 4], maxPacketSize: Int = 2048) -> FECParameters {
    FECParameters(r: r, interleaves: interleaves, flushAfterNanoseconds: 1_000_000, maxPacketSize: maxPacketSize)
}

/// The sender's keepalive naming `stream`, as a frame a decoder can be fed.
func keepaliveFrame(stream: StreamID, nextSequence: UInt32 = 0, timestamp: UInt64 = 1) -> RecordedFrame {
    RecordedFrame(kind: .data, bytes: keepaliveDatagram(stream: stream, nextSequence: nextSequence, timestamp: timestamp))
}

/// A whole plaintext keepalive datagram.
func keepaliveDatagram(stream: StreamID, nextSequence: UInt32 = 0, timestamp: UInt64 = 1, lane: LaneID = 0) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: WireFormat.keepaliveSize)
    header.withUnsafeMutableBytes {
        KeepaliveFrame(stream: stream, nextSequence: nextSequence, decodingStream: 0, timestamp: timestamp, echoedTimestamp: 0)
            .write(to: $0.baseAddress!)
    }
    return header.withUnsafeBytes { WireFormat.plaintextFrame(type: .keepalive, lane: lane, header: $0, payload: UnsafeRawBufferPointer(start: nil, count: 0)) }
}

/// A whole plaintext data datagram.
func dataDatagram(stream: StreamID, sequence: UInt32, payload: [UInt8], lane: LaneID = 0) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: WireFormat.dataHeaderSize)
    header.withUnsafeMutableBytes { DataFrameHeader(stream: stream, sequence: sequence).write(to: $0.baseAddress!) }
    return header.withUnsafeBytes { head in payload.withUnsafeBytes { WireFormat.plaintextFrame(type: .data, lane: lane, header: head, payload: $0) } }
}
