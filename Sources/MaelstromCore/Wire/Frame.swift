/// The frame types of the Maelstrom wire format (docs/PROTOCOL.md).
public enum FrameType: UInt8, Sendable, CaseIterable {
    /// One IP packet with its stream and sequence number.
    case data = 1
    /// The XOR of several data packets of one stream, with a description of its members.
    case repair = 2
    /// A liveness and restart signal between gateways; carries no packet.
    case keepalive = 3
    /// What a receiver measured of the sender's stream (loss, bursts, residual), for the sender's
    /// FEC policy; carries no packet.
    case lossReport = 7

    /// Bytes of this type's own header, after the envelope.
    @inlinable
    public var bodyHeaderSize: Int {
        switch self {
        case .data: WireFormat.dataHeaderSize
        case .repair: WireFormat.repairHeaderSize
        case .keepalive: WireFormat.keepaliveSize
        case .lossReport: WireFormat.lossReportSize
        }
    }
}

/// Sizes and constants of the wire format, and the envelope every frame starts with.
///
/// A frame is a 16-byte envelope (version, type, the sender's lane, flags, and 12 bytes that a
/// sealed frame fills with its session index and counter) followed by the type's header and
/// payload. In a plaintext frame, bytes 8–9 hold a checksum over both headers; a sealed frame
/// (flags bit 0) encrypts everything after the envelope and appends a 16-byte tag.
public enum WireFormat {
    /// The protocol version in byte 0 of every frame.
    public static let version: UInt8 = 3
    /// Flags bit 0: the frame is sealed (AEAD); bytes 4–7 name the session, 8–15 hold the counter.
    public static let sealedFlag: UInt8 = 1
    /// Bytes a sealed frame adds after its plaintext: the AEAD tag.
    public static let sealOverhead = 16

    /// Bytes of a sealed frame's own header that stay readable (authenticated, not encrypted):
    /// the stream and sequence numbers of data and repair frames, so a receiver can drop a repair
    /// it does not need without opening it. A keepalive's header (its timestamps) is encrypted.
    @inlinable
    public static func clearHeaderSize(typeByte: UInt8) -> Int {
        switch typeByte {
        case FrameType.data.rawValue: dataHeaderSize
        case FrameType.repair.rawValue: repairHeaderSize
        default: 0
        }
    }
    /// Bytes of the envelope in front of every frame's own header.
    public static let envelopeSize = 16
    /// Bytes of a data frame's own header (stream, sequence).
    public static let dataHeaderSize = 8
    /// Bytes of a repair frame's own header.
    public static let repairHeaderSize = 14
    /// Bytes of a keepalive's own header (it has no payload).
    public static let keepaliveSize = 28
    /// Bytes of a loss report's own header (it has no payload): the stream, two window lengths,
    /// and two windows of four counts and a 16-bucket burst histogram.
    public static let lossReportSize = 8 + 2 * LossReportFrame.windowSize
    /// Envelope plus the largest own header: what the WAN MTU must leave room for on top of the TUN MTU.
    public static let maxHeaderSize = envelopeSize + repairHeaderSize
    /// Bytes in front of a data frame's packet: envelope plus data header.
    public static let dataFrameHeadroom = envelopeSize + dataHeaderSize
    /// Offset of the plaintext header checksum.
    @usableFromInline static let checksumOffset = 8

    /// Ones'-complement sum of the header's 16-bit words with the checksum field (bytes 8–9) left out.
    ///
    /// It guards the headers of a plaintext frame against datagrams that are not Maelstrom frames
    /// at all; it is not authentication.
    @inlinable
    public static func headerChecksum(_ header: UnsafeRawPointer, count: Int) -> UInt16 {
        // The whole header, then its checksum field taken out again (ones'-complement subtraction).
        let whole = InternetChecksum.sum(header, count: count)
        let field = UInt64(header.loadUnaligned(fromByteOffset: checksumOffset, as: UInt16.self))
        return InternetChecksum.checksum(whole &+ (0xFFFF &- field))
    }

    /// Writes the envelope of a plaintext frame at `frame`, whose own header of `type` already
    /// follows it, and its checksum.
    @inlinable
    public static func writePlaintextEnvelope(_ frame: UnsafeMutableRawPointer, type: FrameType, lane: LaneID) {
        frame.storeBytes(of: version, toByteOffset: 0, as: UInt8.self)
        frame.storeBytes(of: type.rawValue, toByteOffset: 1, as: UInt8.self)
        frame.storeBytes(of: lane.rawValue, toByteOffset: 2, as: UInt8.self)
        frame.storeBytes(of: 0, toByteOffset: 3, as: UInt8.self)
        frame.storeBytes(of: 0, toByteOffset: 4, as: UInt32.self)
        frame.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
        let checksum = headerChecksum(UnsafeRawPointer(frame), count: envelopeSize + type.bodyHeaderSize)
        frame.storeBigEndian(checksum, at: checksumOffset)
    }

    /// Writes the envelope of a frame to be sealed at `frame`: version, type and lane; the sealer
    /// fills flags, session index and counter (no checksum: the AEAD tag covers the envelope).
    @inlinable
    public static func writeSealableEnvelope(_ frame: UnsafeMutableRawPointer, type: FrameType, lane: LaneID) {
        frame.storeBytes(of: version, toByteOffset: 0, as: UInt8.self)
        frame.storeBytes(of: type.rawValue, toByteOffset: 1, as: UInt8.self)
        frame.storeBytes(of: lane.rawValue, toByteOffset: 2, as: UInt8.self)
        frame.storeBytes(of: 0, toByteOffset: 3, as: UInt8.self)
    }

    /// Writes the envelope `protection` calls for.
    @inlinable
    public static func writeEnvelope(_ frame: UnsafeMutableRawPointer, type: FrameType, lane: LaneID, protection: FrameProtection) {
        switch protection {
        case .plaintext: writePlaintextEnvelope(frame, type: type, lane: lane)
        case .sealed: writeSealableEnvelope(frame, type: type, lane: lane)
        }
    }

    /// A whole plaintext frame as bytes: envelope, `header` (the type's own header) and `payload`.
    public static func plaintextFrame(
        type: FrameType, lane: LaneID = 0, header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: envelopeSize + header.count + payload.count)
        bytes.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            if let source = header.baseAddress { (base + envelopeSize).copyMemory(from: source, byteCount: header.count) }
            if let source = payload.baseAddress {
                (base + envelopeSize + header.count).copyMemory(from: source, byteCount: payload.count)
            }
            writePlaintextEnvelope(base, type: type, lane: lane)
        }
        return bytes
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

    /// Writes the 8 header bytes at `destination`.
    @inlinable
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBigEndian(stream.rawValue, at: 0)
        destination.storeBigEndian(sequence, at: 4)
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

    /// Writes the 14 header bytes at `destination`.
    @inlinable
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBigEndian(stream.rawValue, at: 0)
        destination.storeBigEndian(firstSequence, at: 4)
        destination.storeBigEndian(stride, at: 8)
        destination.storeBytes(of: layer, toByteOffset: 10, as: UInt8.self)
        destination.storeBytes(of: count, toByteOffset: 11, as: UInt8.self)
        destination.storeBigEndian(lengthXor, at: 12)
    }
}

/// A keepalive: who is sending, how far its stream has got, and what it is decoding.
public struct KeepaliveFrame: Sendable, Equatable {
    /// The sender's current encoder stream (of the lane that sends the keepalive).
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

    /// Writes the 28 header bytes at `destination`.
    @inlinable
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBigEndian(stream.rawValue, at: 0)
        destination.storeBigEndian(nextSequence, at: 4)
        destination.storeBigEndian(decodingStream.rawValue, at: 8)
        destination.storeBigEndian(timestamp, at: 12)
        destination.storeBigEndian(echoedTimestamp, at: 20)
    }
}

/// A loss report: what the receiving gateway measured of one of the sender's streams over a short
/// and a long window, so the sender's FEC policy can pick the code the link needs.
public struct LossReportFrame: Sendable, Equatable {
    /// Bytes one window takes on the wire: four 32-bit counts and 16 32-bit histogram buckets.
    public static let windowSize = 4 * 4 + 4 * BurstHistogram.bucketCount

    /// The sender stream measured (the receiver's current decoding stream of that lane).
    public var stream: StreamID
    /// Length of the short window, in milliseconds.
    public var shortMilliseconds: UInt16
    /// Length of the long window, in milliseconds.
    public var longMilliseconds: UInt16
    /// The short window (about a second: what reacts fast).
    public var short: LossWindow
    /// The long window (about ten seconds: what is stable).
    public var long: LossWindow
    /// What the short window covers.
    public var shortSpan: ShortWindowSpan

    /// What a report's short window covers.
    public enum ShortWindowSpan: Sendable, Equatable {
        /// The last `shortMilliseconds` (a regular report).
        case trailing
        /// What was judged since the previous report, `shortMilliseconds` ago (an early report:
        /// loss just appeared, and a trailing window would dilute it with the clean time before).
        case sincePreviousReport
    }

    /// Creates a report.
    public init(
        stream: StreamID, shortMilliseconds: UInt16, longMilliseconds: UInt16, short: LossWindow, long: LossWindow,
        shortSpan: ShortWindowSpan = .trailing
    ) {
        self.stream = stream
        self.shortMilliseconds = shortMilliseconds
        self.longMilliseconds = longMilliseconds
        self.short = short
        self.long = long
        self.shortSpan = shortSpan
    }

    /// Reads the `WireFormat.lossReportSize` header bytes at `header` (bounds checked by the caller).
    public init(reading header: UnsafeRawPointer) {
        stream = StreamID(header.loadBigEndianUInt32(at: 0))
        shortMilliseconds = header.loadBigEndianUInt16(at: 4)
        longMilliseconds = header.loadBigEndianUInt16(at: 6)
        short = Self.readWindow(header + 8)
        long = Self.readWindow(header + 8 + Self.windowSize)
        shortSpan = header.loadBigEndianUInt32(at: 8 + 12) & Self.sincePreviousReportFlag != 0 ? .sincePreviousReport : .trailing
    }

    /// The bit of the short window's flags word (offset 12) that marks a span since the previous report.
    static let sincePreviousReportFlag: UInt32 = 1

    /// Writes the `WireFormat.lossReportSize` header bytes at `destination`; counts above 2³² − 1
    /// are sent as 2³² − 1.
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBigEndian(stream.rawValue, at: 0)
        destination.storeBigEndian(shortMilliseconds, at: 4)
        destination.storeBigEndian(longMilliseconds, at: 6)
        Self.writeWindow(short, to: destination + 8)
        Self.writeWindow(long, to: destination + 8 + Self.windowSize)
        if shortSpan == .sincePreviousReport { destination.storeBigEndian(Self.sincePreviousReportFlag, at: 8 + 12) }
    }

    /// Whether both windows at `header` count no more lost or unrecovered packets than expected
    /// and set no flag but the short window's `sincePreviousReportFlag`.
    public static func isConsistent(_ header: UnsafeRawPointer) -> Bool {
        for (offset, allowedFlags) in [(8, sincePreviousReportFlag), (8 + windowSize, 0)] {
            let expected = header.loadBigEndianUInt32(at: offset)
            guard header.loadBigEndianUInt32(at: offset + 4) <= expected, header.loadBigEndianUInt32(at: offset + 8) <= expected,
                header.loadBigEndianUInt32(at: offset + 12) & ~allowedFlags == 0
            else { return false }
        }
        return true
    }

    static func readWindow(_ base: UnsafeRawPointer) -> LossWindow {
        var bursts = BurstHistogram()
        for index in 0..<BurstHistogram.bucketCount { bursts.counts[index] = base.loadBigEndianUInt32(at: 16 + 4 * index) }
        return LossWindow(
            expected: UInt64(base.loadBigEndianUInt32(at: 0)), lost: UInt64(base.loadBigEndianUInt32(at: 4)),
            bursts: bursts, unrecovered: UInt64(base.loadBigEndianUInt32(at: 8)))
    }

    static func writeWindow(_ window: LossWindow, to base: UnsafeMutableRawPointer) {
        func clamp(_ value: UInt64) -> UInt32 { UInt32(min(value, UInt64(UInt32.max))) }
        // Parsing refuses lost or unrecovered above expected; a meter can count unrecoverable
        // packets of frames it judged in congestion (not in the window's expected), so clamp here.
        let expected = clamp(window.expected)
        base.storeBigEndian(expected, at: 0)
        base.storeBigEndian(min(clamp(window.lost), expected), at: 4)
        base.storeBigEndian(min(clamp(window.unrecovered), expected), at: 8)
        base.storeBigEndian(UInt32(0), at: 12)
        for index in 0..<BurstHistogram.bucketCount { base.storeBigEndian(window.bursts.counts[index], at: 16 + 4 * index) }
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
    /// A loss report.
    case lossReport(LossReportFrame)

    /// Reads one datagram, checking every bound; never traps, whatever the bytes. Returns the
    /// sender's lane with the frame.
    ///
    /// `.plaintext` wants flags 0 and a matching header checksum. `.sealed` wants the sealed flag
    /// and no tag: the caller has opened the frame (authenticated it and stripped its tag) first.
    @inlinable
    public static func parse(_ datagram: UnsafeRawBufferPointer, protection: FrameProtection = .plaintext) throws(WireError) -> (lane: LaneID, frame: Frame) {
        guard datagram.count >= WireFormat.envelopeSize, let base = datagram.baseAddress else { throw WireError(.truncated) }
        guard base.load(as: UInt8.self) == WireFormat.version else { throw WireError(.unknownVersion) }
        guard let type = FrameType(rawValue: base.load(fromByteOffset: 1, as: UInt8.self)) else { throw WireError(.unknownType) }
        let lane = LaneID(base.load(fromByteOffset: 2, as: UInt8.self))
        let headerSize = WireFormat.envelopeSize + type.bodyHeaderSize
        switch protection {
        case .plaintext:
            guard base.load(fromByteOffset: 3, as: UInt8.self) == 0 else { throw WireError(.sealed) }
            guard datagram.count >= headerSize else { throw WireError(.truncated) }
            guard base.loadBigEndianUInt16(at: WireFormat.checksumOffset) == WireFormat.headerChecksum(base, count: headerSize) else {
                throw WireError(.badChecksum)
            }
        case .sealed:
            guard base.load(fromByteOffset: 3, as: UInt8.self) == WireFormat.sealedFlag else { throw WireError(.notSealed) }
            guard datagram.count >= headerSize else { throw WireError(.truncated) }
        }
        guard lane.index < LaneID.maxLanes else { throw WireError(.laneOutOfRange) }
        return (lane, try parseBody(type, header: base + WireFormat.envelopeSize, payload: UnsafeRawBufferPointer(rebasing: datagram[headerSize...])))
    }

    /// Reads a frame's own header (at `header`, as long as its type needs) and its payload.
    @inlinable
    public static func parseBody(_ type: FrameType, header: UnsafeRawPointer, payload: UnsafeRawBufferPointer) throws(WireError) -> Frame {
        let stream = StreamID(header.loadBigEndianUInt32(at: 0))
        switch type {
        case .data:
            guard !payload.isEmpty else { throw WireError(.emptyPayload) }
            return .data(DataFrameHeader(stream: stream, sequence: header.loadBigEndianUInt32(at: 4)), payload: payload)
        case .repair:
            let repair = RepairFrameHeader(
                stream: stream,
                firstSequence: header.loadBigEndianUInt32(at: 4),
                stride: header.loadBigEndianUInt16(at: 8),
                layer: header.load(fromByteOffset: 10, as: UInt8.self),
                count: header.load(fromByteOffset: 11, as: UInt8.self),
                lengthXor: header.loadBigEndianUInt16(at: 12))
            guard repair.count >= 1, repair.stride >= 1, Int(repair.layer) < FECParameters.maxLayers else {
                throw WireError(.badRepairDescription)
            }
            guard !payload.isEmpty else { throw WireError(.emptyPayload) }
            return .repair(repair, payload: payload)
        case .keepalive:
            return .keepalive(
                KeepaliveFrame(
                    stream: stream,
                    nextSequence: header.loadBigEndianUInt32(at: 4),
                    decodingStream: StreamID(header.loadBigEndianUInt32(at: 8)),
                    timestamp: header.loadBigEndianUInt64(at: 12),
                    echoedTimestamp: header.loadBigEndianUInt64(at: 20)))
        case .lossReport:
            guard LossReportFrame.isConsistent(header) else { throw WireError(.badLossReport) }
            return .lossReport(LossReportFrame(reading: header))
        }
    }
}
