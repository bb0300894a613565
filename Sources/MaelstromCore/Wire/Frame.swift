/// The three frame types of the Maelstrom wire format (docs/PROTOCOL.md) and their parser.
public enum FrameType: UInt8, Sendable {
    /// One IP packet with its stream and sequence number.
    case data = 1
    /// The XOR of several data packets of one stream, with a description of its members.
    case repair = 2
    /// A liveness and restart signal between gateways; carries no packet.
    case keepalive = 3
}

/// Sizes and constants of the wire format.
public enum WireFormat {
    /// The protocol version in byte 0 of every frame.
    public static let version: UInt8 = 1
    /// Bytes before the payload of a data frame.
    public static let dataHeaderSize = 12
    /// Bytes before the payload of a repair frame.
    public static let repairHeaderSize = 18
    /// Size of a keepalive frame.
    public static let keepaliveSize = 32
    /// The largest header, which the WAN MTU must leave room for on top of the TUN MTU.
    public static let maxHeaderSize = repairHeaderSize

    /// Ones'-complement sum of the header's 16-bit words with the checksum field (bytes 2–3) as zero.
    ///
    /// It guards the header against datagrams that are not Maelstrom frames at all (random bytes
    /// from the peer's address must never reset a stream); it is not authentication.
    @inlinable
    public static func headerChecksum(_ header: UnsafeRawPointer, count: Int) -> UInt16 {
        var sum: UInt32 = UInt32(header.loadBigEndianUInt16(at: 0))
        var offset = 4
        while offset + 2 <= count {
            sum &+= UInt32(header.loadBigEndianUInt16(at: offset))
            offset += 2
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) &+ (sum >> 16) }
        return ~UInt16(truncatingIfNeeded: sum)
    }

    @inlinable
    static func sealHeader(_ header: UnsafeMutableRawPointer, count: Int) {
        header.storeBigEndian(headerChecksum(UnsafeRawPointer(header), count: count), at: 2)
    }
}

/// The fixed fields of a data frame.
public struct DataFrameHeader: Sendable, Equatable {
    /// The sending encoder's stream identity, new at each start.
    public var stream: StreamID
    /// The packet's sequence number in its stream, modulo 2³².
    public var sequence: UInt32

    /// Creates a header.
    public init(stream: StreamID, sequence: UInt32) {
        self.stream = stream
        self.sequence = sequence
    }

    /// Writes the 12 header bytes at `destination`.
    @inlinable
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: WireFormat.version, toByteOffset: 0, as: UInt8.self)
        destination.storeBytes(of: FrameType.data.rawValue, toByteOffset: 1, as: UInt8.self)
        destination.storeBigEndian(stream.rawValue, at: 4)
        destination.storeBigEndian(sequence, at: 8)
        WireFormat.sealHeader(destination, count: WireFormat.dataHeaderSize)
    }
}

/// The fixed fields of a repair frame: which packets it covers and how to restore a length.
///
/// The members are `firstSequence + k · stride` for `k` in `0..<count`: a description, not a list.
public struct RepairFrameHeader: Sendable, Equatable {
    /// The stream whose packets this repair covers.
    public var stream: StreamID
    /// Sequence number of the first member, modulo 2³².
    public var firstSequence: UInt32
    /// Distance between consecutive members (the layer's interleave).
    public var stride: UInt16
    /// The layer that produced the repair, `0..<FECParameters.maxLayers`.
    public var layer: UInt8
    /// Number of members, at least 1.
    public var count: UInt8
    /// XOR of the members' lengths; with all but one member known it yields the last one's length.
    public var lengthXor: UInt16

    /// Creates a header.
    public init(stream: StreamID, firstSequence: UInt32, stride: UInt16, layer: UInt8, count: UInt8, lengthXor: UInt16) {
        self.stream = stream
        self.firstSequence = firstSequence
        self.stride = stride
        self.layer = layer
        self.count = count
        self.lengthXor = lengthXor
    }

    /// Writes the 18 header bytes at `destination`.
    @inlinable
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: WireFormat.version, toByteOffset: 0, as: UInt8.self)
        destination.storeBytes(of: FrameType.repair.rawValue, toByteOffset: 1, as: UInt8.self)
        destination.storeBigEndian(stream.rawValue, at: 4)
        destination.storeBigEndian(firstSequence, at: 8)
        destination.storeBigEndian(stride, at: 12)
        destination.storeBytes(of: layer, toByteOffset: 14, as: UInt8.self)
        destination.storeBytes(of: count, toByteOffset: 15, as: UInt8.self)
        destination.storeBigEndian(lengthXor, at: 16)
        WireFormat.sealHeader(destination, count: WireFormat.repairHeaderSize)
    }
}

/// A keepalive: who is sending, how far its stream has got, and what it is decoding.
public struct KeepaliveFrame: Sendable, Equatable {
    /// The sender's current encoder stream.
    public var stream: StreamID
    /// The next data sequence number the sender will use, modulo 2³².
    public var nextSequence: UInt32
    /// The stream the sender is currently decoding from the receiver (raw value 0 when none).
    public var decodingStream: StreamID
    /// The sender's clock when it sent this frame (opaque to the receiver, echoed back).
    public var timestamp: UInt64
    /// The last `timestamp` the sender received from the receiver, for round-trip measurement.
    public var echoedTimestamp: UInt64

    /// Creates a keepalive.
    public init(stream: StreamID, nextSequence: UInt32, decodingStream: StreamID, timestamp: UInt64, echoedTimestamp: UInt64) {
        self.stream = stream
        self.nextSequence = nextSequence
        self.decodingStream = decodingStream
        self.timestamp = timestamp
        self.echoedTimestamp = echoedTimestamp
    }

    /// Writes the 32 bytes of the frame at `destination`.
    @inlinable
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: WireFormat.version, toByteOffset: 0, as: UInt8.self)
        destination.storeBytes(of: FrameType.keepalive.rawValue, toByteOffset: 1, as: UInt8.self)
        destination.storeBigEndian(stream.rawValue, at: 4)
        destination.storeBigEndian(nextSequence, at: 8)
        destination.storeBigEndian(decodingStream.rawValue, at: 12)
        destination.storeBigEndian(timestamp, at: 16)
        destination.storeBigEndian(echoedTimestamp, at: 24)
        WireFormat.sealHeader(destination, count: WireFormat.keepaliveSize)
    }
}

/// A parsed datagram; payloads point into the datagram and live as long as it does.
public enum Frame {
    /// A data frame and its packet.
    case data(DataFrameHeader, payload: UnsafeRawBufferPointer)
    /// A repair frame and its XOR payload.
    case repair(RepairFrameHeader, payload: UnsafeRawBufferPointer)
    /// A keepalive.
    case keepalive(KeepaliveFrame)

    /// Reads one datagram, checking every bound; never traps, whatever the bytes.
    @inlinable
    public static func parse(_ datagram: UnsafeRawBufferPointer) throws(WireError) -> Frame {
        guard datagram.count >= WireFormat.dataHeaderSize, let base = datagram.baseAddress else {
            throw WireError(.truncated)
        }
        guard base.load(as: UInt8.self) == WireFormat.version else { throw WireError(.unknownVersion) }
        let type = base.load(fromByteOffset: 1, as: UInt8.self)
        let headerSize: Int
        switch type {
        case FrameType.data.rawValue: headerSize = WireFormat.dataHeaderSize
        case FrameType.repair.rawValue: headerSize = WireFormat.repairHeaderSize
        case FrameType.keepalive.rawValue: headerSize = WireFormat.keepaliveSize
        default: throw WireError(.unknownType)
        }
        guard datagram.count >= headerSize else { throw WireError(.truncated) }
        guard base.loadBigEndianUInt16(at: 2) == WireFormat.headerChecksum(base, count: headerSize) else {
            throw WireError(.badChecksum)
        }
        let stream = StreamID(base.loadBigEndianUInt32(at: 4))
        let payload = UnsafeRawBufferPointer(rebasing: datagram[headerSize...])
        switch type {
        case FrameType.data.rawValue:
            guard !payload.isEmpty else { throw WireError(.emptyPayload) }
            return .data(DataFrameHeader(stream: stream, sequence: base.loadBigEndianUInt32(at: 8)), payload: payload)
        case FrameType.repair.rawValue:
            let header = RepairFrameHeader(
                stream: stream,
                firstSequence: base.loadBigEndianUInt32(at: 8),
                stride: base.loadBigEndianUInt16(at: 12),
                layer: base.load(fromByteOffset: 14, as: UInt8.self),
                count: base.load(fromByteOffset: 15, as: UInt8.self),
                lengthXor: base.loadBigEndianUInt16(at: 16))
            guard header.count >= 1, header.stride >= 1, Int(header.layer) < FECParameters.maxLayers else {
                throw WireError(.badRepairDescription)
            }
            guard !payload.isEmpty else { throw WireError(.emptyPayload) }
            return .repair(header, payload: payload)
        default:
            return .keepalive(
                KeepaliveFrame(
                    stream: stream,
                    nextSequence: base.loadBigEndianUInt32(at: 8),
                    decodingStream: StreamID(base.loadBigEndianUInt32(at: 12)),
                    timestamp: base.loadBigEndianUInt64(at: 16),
                    echoedTimestamp: base.loadBigEndianUInt64(at: 24)))
        }
    }
}
