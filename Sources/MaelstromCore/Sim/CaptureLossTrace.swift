/// The loss pattern of each frame stream in a packet capture taken on a receiving gateway's WAN
/// side, from the sequence numbers the frames carry (`maelstromd trace`).
///
/// Fed one datagram at a time (`add(packet:linkType:)` for a captured packet, or
/// `add(source:payload:)` for a UDP payload), it keeps, per stream, one bit per sequence number
/// (received or not) between the first and the highest seen, so gaps that are filled later count
/// as late arrivals, not losses. Which sequence a frame carries (docs/PROTOCOL.md):
///
/// - a sealed frame (flags bit 0): the 64-bit per-lane counter of its session (bytes 8–15), which
///   counts every frame the lane seals — data, repair, keepalive, loss report — so a gap is the
///   WAN losing any of them. Stream = (source, receiver index, lane).
/// - a plaintext data frame: its 32-bit sequence (bytes 20–23), extended to 64 bits by serial
///   arithmetic. Stream = (source, lane, stream identity). Other plaintext frames carry no
///   sequence of their own and are only counted.
///
/// Handshake messages, other versions and anything malformed are counted as ignored. A frame
/// more than `maxJump` ahead of the highest sequence starts a new segment of its stream (a gap
/// that large is a sender that jumped, not a million losses); one that far behind, or more than
/// `maxReorderBeforeStart` before the stream's first, is counted as stale and left out.
public struct CaptureLossTrace: Sendable {
    /// The largest forward step taken as losses; a larger one starts a new segment.
    public static let maxJump: UInt64 = 1 << 20
    /// How far before the first sequence seen of a segment a late frame may still extend it.
    public static let maxReorderBeforeStart: UInt64 = 1024

    /// Only datagrams from this UDP source count (nil: all).
    public let peer: Endpoint?

    private var counters = CaptureCounters()
    private var streamIndex: [CaptureStreamKey: Int] = [:]
    private var streams: [StreamState] = []

    /// An empty trace, keeping only datagrams from `peer` when it is given.
    public init(peer: Endpoint? = nil) {
        self.peer = peer
    }

    /// Adds one captured packet of a link of `linkType`: its UDP datagram if it holds one, else
    /// a count of why not.
    public mutating func add(packet: UnsafeRawBufferPointer, linkType: CaptureLinkType) {
        counters.packets += 1
        switch CapturedPacket.parse(packet, linkType: linkType) {
        case .udp(let datagram):
            add(source: datagram.source, payload: UnsafeRawBufferPointer(rebasing: packet[datagram.payload]))
        case .notIP, .notUDP: counters.notUDP += 1
        case .laterFragment: counters.laterFragments += 1
        case .truncated: counters.truncated += 1
        }
    }

    /// Adds one UDP datagram from `source` whose payload starts with `payload` (possibly cut off
    /// by the capture's snap length: the first 24 bytes are all that is read).
    public mutating func add(source: Endpoint, payload: UnsafeRawBufferPointer) {
        counters.datagrams += 1
        if let peer, peer != source {
            counters.otherSources += 1
            return
        }
        guard payload.count >= WireFormat.envelopeSize, payload[0] == WireFormat.version, payload[2] < LaneID.maxLanes else {
            counters.ignored += 1
            return
        }
        let type = payload[1]
        let flags = payload[3]
        let lane = payload[2]
        switch (type, flags) {
        case (4...6, 0):
            counters.handshakes += 1
            counters.ignored += 1
        case (FrameType.data.rawValue, WireFormat.sealedFlag), (FrameType.repair.rawValue, WireFormat.sealedFlag),
            (FrameType.keepalive.rawValue, WireFormat.sealedFlag), (FrameType.lossReport.rawValue, WireFormat.sealedFlag):
            let key = CaptureStreamKey(source: source, lane: lane, kind: .sealed(receiverIndex: payload.baseAddress!.loadBigEndianUInt32(at: 4)))
            record(key: key, sequence: payload.baseAddress!.loadBigEndianUInt64(at: 8), extending32: false)
        case (FrameType.data.rawValue, 0):
            let size = WireFormat.dataFrameHeadroom
            guard payload.count >= size, Self.checksumHolds(payload, headerSize: size) else {
                counters.ignored += 1
                return
            }
            let key = CaptureStreamKey(source: source, lane: lane, kind: .plaintext(stream: payload.baseAddress!.loadBigEndianUInt32(at: 16)))
            record(key: key, sequence: UInt64(payload.baseAddress!.loadBigEndianUInt32(at: 20)), extending32: true)
        case (FrameType.repair.rawValue, 0), (FrameType.keepalive.rawValue, 0), (FrameType.lossReport.rawValue, 0):
            // Checked where the capture kept the whole header; a loss report's (184 bytes) is
            // usually beyond the snap length, and its count matters little.
            let size = WireFormat.envelopeSize + FrameType(rawValue: type)!.bodyHeaderSize
            guard payload.count < size || Self.checksumHolds(payload, headerSize: size) else {
                counters.ignored += 1
                return
            }
            counters.unsequenced += 1
        default:
            counters.ignored += 1
        }
    }

    private static func checksumHolds(_ payload: UnsafeRawBufferPointer, headerSize: Int) -> Bool {
        WireFormat.headerChecksum(payload.baseAddress!, count: headerSize) == payload.baseAddress!.loadBigEndianUInt16(at: 8)
    }

    private mutating func record(key: CaptureStreamKey, sequence raw: UInt64, extending32: Bool) {
        counters.frames += 1
        let index: Int
        if let known = streamIndex[key] {
            index = known
        } else {
            index = streams.count
            streamIndex[key] = index
            streams.append(StreamState(key: key))
        }
        streams[index].record(raw, extending32: extending32)
    }

    /// What was found: the datagram counts, each stream's counts in order of first appearance,
    /// and their sums.
    public var summary: CaptureLossSummary {
        var total = CaptureLossCounts()
        var summaries: [CaptureStreamSummary] = []
        for (position, stream) in streams.enumerated() {
            let counts = stream.counts
            total.add(counts)
            summaries.append(CaptureStreamSummary(number: position + 1, key: stream.key, counts: counts))
        }
        return CaptureLossSummary(counters: counters, streams: summaries, total: total)
    }

    /// The loss pattern (true = lost) of stream `number` (1-based, as in `summary`), its
    /// segments one after the other; empty when there is no such stream.
    public func pattern(stream number: Int) -> [Bool] {
        guard number >= 1 && number <= streams.count else { return [] }
        var result: [Bool] = []
        streams[number - 1].appendPattern(to: &result)
        return result
    }

    /// The patterns of all streams one after the other, in order of first appearance.
    ///
    /// Concatenated rather than interleaved: the capture's timestamps are not used, and a trace
    /// replayed by `LossModel.trace` is one packet sequence, so each stream's bursts stay whole.
    public func pattern() -> [Bool] {
        var result: [Bool] = []
        for stream in streams { stream.appendPattern(to: &result) }
        return result
    }

    /// The number of the stream with the most sequence numbers expected (the first of equals),
    /// or nil when there is none.
    public var largestStream: Int? {
        var best: (number: Int, expected: UInt64)? = nil
        for (position, stream) in streams.enumerated() {
            let expected = stream.counts.expected
            if best == nil || expected > best!.expected { best = (position + 1, expected) }
        }
        return best?.number
    }

    /// A pattern as the text `LossModel.parseTrace` reads: `0` kept, `1` lost, space separated,
    /// `perLine` to a line, ending in a newline.
    public static func traceText(_ pattern: [Bool], perLine: Int = 64) -> String {
        var text = ""
        text.reserveCapacity(pattern.count * 2 + 1)
        for (position, lost) in pattern.enumerated() {
            if position > 0 { text += position % perLine == 0 ? "\n" : " " }
            text += lost ? "1" : "0"
        }
        if !pattern.isEmpty { text += "\n" }
        return text
    }
}

/// Which stream a frame belongs to.
public struct CaptureStreamKey: Hashable, Sendable, CustomStringConvertible {
    /// What numbers the stream's frames.
    public enum Kind: Hashable, Sendable {
        /// Sealed frames of one session (named by the receiver's index): the lane's frame counter.
        case sealed(receiverIndex: UInt32)
        /// Plaintext data frames of one encoder stream: their sequence numbers.
        case plaintext(stream: UInt32)
    }

    /// The UDP source of the frames.
    public var source: Endpoint
    /// The sender's lane.
    public var lane: UInt8
    /// Sealed or plaintext, with the session or stream.
    public var kind: Kind

    /// Creates a key.
    public init(source: Endpoint, lane: UInt8, kind: Kind) {
        self.source = source
        self.lane = lane
        self.kind = kind
    }

    /// `192.0.2.1:4500 lane 0 sealed index 0x1a2b3c4d`.
    public var description: String {
        switch kind {
        case .sealed(let index): "\(source) lane \(lane) sealed index \(Self.hex(index))"
        case .plaintext(let stream): "\(source) lane \(lane) plaintext stream \(Self.hex(stream))"
        }
    }

    /// `0x` and eight hex digits.
    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// What happened to the datagrams of a capture before any stream was involved.
public struct CaptureCounters: Sendable, Equatable, Codable {
    /// Captured packets given to `add(packet:linkType:)`.
    public var packets: UInt64 = 0
    /// Packets that were not IP/UDP (ARP, TCP, ICMP, …).
    public var notUDP: UInt64 = 0
    /// IP fragments after the first, which carry no UDP header.
    public var laterFragments: UInt64 = 0
    /// Packets cut off before the end of their UDP header.
    public var truncated: UInt64 = 0
    /// UDP datagrams looked at.
    public var datagrams: UInt64 = 0
    /// Datagrams left out because their source is not the peer asked for.
    public var otherSources: UInt64 = 0
    /// Datagrams that are not frames of this protocol version, handshake messages included.
    public var ignored: UInt64 = 0
    /// Handshake messages (types 4–6), among `ignored`.
    public var handshakes: UInt64 = 0
    /// Plaintext frames without a sequence of their own (repair, keepalive, loss report).
    public var unsequenced: UInt64 = 0
    /// Frames that entered a stream's pattern (or were found duplicate or stale in it).
    public var frames: UInt64 = 0

    /// All zero.
    public init() {}
}

/// One bucket of a burst-length histogram: bursts of `minLength` to `maxLength` lost frames.
public struct CaptureBurstBucket: Sendable, Equatable, Codable {
    /// The shortest burst the bucket holds.
    public var minLength: UInt64
    /// The longest, nil for the last bucket (no bound).
    public var maxLength: UInt64?
    /// Bursts counted.
    public var count: UInt64

    /// Creates a bucket.
    public init(minLength: UInt64, maxLength: UInt64?, count: UInt64) {
        self.minLength = minLength
        self.maxLength = maxLength
        self.count = count
    }
}

/// The counts of one stream, or of all of them.
public struct CaptureLossCounts: Sendable, Equatable, Codable {
    /// Sequence numbers the stream went through: from the first to the highest of each segment.
    public var expected: UInt64 = 0
    /// Of those, the ones that arrived (at least once).
    public var received: UInt64 = 0
    /// Of those, the ones that never arrived: `expected − received`.
    public var lost: UInt64 = 0
    /// Arrivals below the highest sequence seen, filling a gap (reordered, not lost).
    public var late: UInt64 = 0
    /// Arrivals of a sequence already received.
    public var duplicates: UInt64 = 0
    /// Arrivals too far behind to place (more than `maxJump` below the highest, or more than
    /// `maxReorderBeforeStart` before the first), left out.
    public var stale: UInt64 = 0
    /// Jumps of more than `maxJump` ahead, each starting a new segment.
    public var jumps: UInt64 = 0
    /// Runs of consecutive lost sequences by length, in the loss report's log2 buckets: 1, 2,
    /// 3–4, 5–8, …, and one for everything longer than 2¹⁴.
    public var bursts = BurstHistogram()

    /// `lost / expected`, 0 when nothing was expected.
    public var lossRate: Double { expected == 0 ? 0 : Double(lost) / Double(expected) }

    /// The histogram's non-empty buckets, shortest first.
    public var burstBuckets: [CaptureBurstBucket] {
        (0..<BurstHistogram.bucketCount).compactMap { bucket in
            let count = UInt64(bursts.counts[bucket])
            guard count > 0 else { return nil }
            let upper = BurstHistogram.upperLength(ofBucket: bucket)
            return CaptureBurstBucket(
                minLength: BurstHistogram.lowerLength(ofBucket: bucket), maxLength: upper == .max ? nil : upper, count: count)
        }
    }

    /// All zero.
    public init() {}

    /// Adds another stream's counts.
    public mutating func add(_ other: CaptureLossCounts) {
        expected += other.expected
        received += other.received
        lost += other.lost
        late += other.late
        duplicates += other.duplicates
        stale += other.stale
        jumps += other.jumps
        bursts.add(other.bursts)
    }

    private enum CodingKeys: String, CodingKey {
        case expected, received, lost, lossRate, late, duplicates, stale, jumps, bursts
    }

    /// Decodes the counts (the loss rate and buckets are derived, so only checked for shape).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        expected = try container.decode(UInt64.self, forKey: .expected)
        received = try container.decode(UInt64.self, forKey: .received)
        lost = try container.decode(UInt64.self, forKey: .lost)
        late = try container.decode(UInt64.self, forKey: .late)
        duplicates = try container.decode(UInt64.self, forKey: .duplicates)
        stale = try container.decode(UInt64.self, forKey: .stale)
        jumps = try container.decode(UInt64.self, forKey: .jumps)
        for bucket in try container.decode([CaptureBurstBucket].self, forKey: .bursts) {
            let index = BurstHistogram.bucket(forLength: bucket.minLength)
            bursts.counts[index] = UInt32(clamping: UInt64(bursts.counts[index]) + bucket.count)
        }
    }

    /// Encodes the counts with the loss rate and the non-empty burst buckets.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(expected, forKey: .expected)
        try container.encode(received, forKey: .received)
        try container.encode(lost, forKey: .lost)
        try container.encode(lossRate, forKey: .lossRate)
        try container.encode(late, forKey: .late)
        try container.encode(duplicates, forKey: .duplicates)
        try container.encode(stale, forKey: .stale)
        try container.encode(jumps, forKey: .jumps)
        try container.encode(burstBuckets, forKey: .bursts)
    }
}

/// One stream of a capture.
public struct CaptureStreamSummary: Sendable, Equatable {
    /// Its number, 1-based in order of first appearance (what `--stream` takes).
    public var number: Int
    /// Which stream.
    public var key: CaptureStreamKey
    /// What was seen of it.
    public var counts: CaptureLossCounts
}

extension CaptureStreamSummary: Codable {
    private enum CodingKeys: String, CodingKey {
        case number, source, lane, protection, receiverIndex, streamIdentity, counts
    }

    /// Decodes a stream as `encode` wrote it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        number = try container.decode(Int.self, forKey: .number)
        let text = try container.decode(String.self, forKey: .source)
        guard let source = Endpoint(text) else {
            throw DecodingError.dataCorruptedError(forKey: .source, in: container, debugDescription: "not ADDRESS:PORT: \(text)")
        }
        let lane = try container.decode(UInt8.self, forKey: .lane)
        if let index = try container.decodeIfPresent(UInt32.self, forKey: .receiverIndex) {
            key = CaptureStreamKey(source: source, lane: lane, kind: .sealed(receiverIndex: index))
        } else {
            key = CaptureStreamKey(source: source, lane: lane, kind: .plaintext(stream: try container.decode(UInt32.self, forKey: .streamIdentity)))
        }
        counts = try container.decode(CaptureLossCounts.self, forKey: .counts)
    }

    /// Encodes the stream flat: source as text, lane, `sealed` with the receiver index or
    /// `plaintext` with the stream identity, and the counts.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(number, forKey: .number)
        try container.encode(key.source.description, forKey: .source)
        try container.encode(key.lane, forKey: .lane)
        switch key.kind {
        case .sealed(let index):
            try container.encode("sealed", forKey: .protection)
            try container.encode(index, forKey: .receiverIndex)
        case .plaintext(let stream):
            try container.encode("plaintext", forKey: .protection)
            try container.encode(stream, forKey: .streamIdentity)
        }
        try container.encode(counts, forKey: .counts)
    }
}

/// Everything `maelstromd trace` reports of a capture.
public struct CaptureLossSummary: Sendable, Equatable, Codable {
    /// The datagram counts.
    public var counters: CaptureCounters
    /// Each stream, in order of first appearance.
    public var streams: [CaptureStreamSummary]
    /// The sums over all streams.
    public var total: CaptureLossCounts
}

/// One stream's sequence numbers: its finished segments and the current one.
private struct StreamState: Sendable {
    let key: CaptureStreamKey
    var finished: [SequenceSegment] = []
    var current: SequenceSegment? = nil
    var stale: UInt64 = 0
    var jumps: UInt64 = 0

    init(key: CaptureStreamKey) { self.key = key }

    mutating func record(_ raw: UInt64, extending32: Bool) {
        guard var segment = current else {
            // 32-bit sequences start 2³² up, so that serial arithmetic may step below the first.
            current = SequenceSegment(first: extending32 ? raw | 1 << 32 : raw)
            return
        }
        current = nil  // so that the segment's storage is uniquely referenced while it changes
        var sequence = raw
        if extending32 {
            // The 64-bit value nearest the highest one seen (RFC 1982): wrap-around is seamless.
            let highest = segment.highest
            let delta = Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: raw) &- UInt32(truncatingIfNeeded: highest)))
            sequence = UInt64(bitPattern: Int64(bitPattern: highest) &+ delta)
        }
        if sequence > segment.highest {
            if sequence - segment.highest > CaptureLossTrace.maxJump {
                finished.append(segment)
                jumps += 1
                segment = SequenceSegment(first: extending32 ? (sequence & 0xFFFF_FFFF) | 1 << 32 : sequence)
            } else {
                segment.advance(to: sequence)
            }
        } else if sequence >= segment.start {
            segment.fill(sequence)
        } else if segment.start - sequence <= CaptureLossTrace.maxReorderBeforeStart, segment.highest - sequence <= CaptureLossTrace.maxJump {
            segment.extendStart(to: sequence)
        } else {
            stale += 1
        }
        current = segment
    }

    var counts: CaptureLossCounts {
        var counts = CaptureLossCounts()
        counts.stale = stale
        counts.jumps = jumps
        for segment in finished { segment.addCounts(to: &counts) }
        current?.addCounts(to: &counts)
        return counts
    }

    func appendPattern(to pattern: inout [Bool]) {
        for segment in finished { segment.appendPattern(to: &pattern) }
        current?.appendPattern(to: &pattern)
    }
}

/// A run of sequence numbers from `start` to `highest`, one bit each: received or not.
///
/// Bit `i` of the bitmap is sequence `origin + i`; `origin` sits at or below `start` so that the
/// start can move down (a late first frame) by whole words without shifting every bit.
private struct SequenceSegment: Sendable {
    var origin: UInt64
    var start: UInt64
    var highest: UInt64
    var words: [UInt64]
    var received: UInt64 = 1
    var late: UInt64 = 0
    var duplicates: UInt64 = 0

    init(first: UInt64) {
        // Room below for a late first frame, within one word when possible.
        origin = first >= 63 ? first - 63 : 0
        start = first
        highest = first
        words = [0]
        set(first)
    }

    private func isSet(_ sequence: UInt64) -> Bool {
        let bit = sequence - origin
        return words[Int(bit >> 6)] & (1 << (bit & 63)) != 0
    }

    private mutating func set(_ sequence: UInt64) {
        let bit = sequence - origin
        let word = Int(bit >> 6)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        words[word] |= 1 << (bit & 63)
    }

    /// A new highest sequence: everything between is missing until it arrives.
    mutating func advance(to sequence: UInt64) {
        set(sequence)
        highest = sequence
        received += 1
    }

    /// A sequence between start and highest: late when it fills a gap, else a duplicate.
    mutating func fill(_ sequence: UInt64) {
        if isSet(sequence) {
            duplicates += 1
        } else {
            set(sequence)
            received += 1
            late += 1
        }
    }

    /// A late frame before the first one seen: the segment starts there instead.
    mutating func extendStart(to sequence: UInt64) {
        if sequence < origin {
            let wordsBelow = Int((origin - sequence + 63) / 64)
            words.insert(contentsOf: repeatElement(0, count: wordsBelow), at: 0)
            origin -= UInt64(wordsBelow) * 64
        }
        start = sequence
        set(sequence)
        received += 1
        late += 1
    }

    func addCounts(to counts: inout CaptureLossCounts) {
        let expected = highest - start + 1
        counts.expected += expected
        counts.received += received
        counts.lost += expected - received
        counts.late += late
        counts.duplicates += duplicates
        var run: UInt64 = 0
        var sequence = start
        while sequence <= highest {
            // Whole words of received frames at once: the common case on a mostly clean link.
            let bit = sequence - origin
            if bit & 63 == 0, sequence + 63 <= highest, words[Int(bit >> 6)] == .max {
                if run > 0 { counts.bursts.record(length: run) }
                run = 0
                sequence += 64
                continue
            }
            if isSet(sequence) {
                if run > 0 { counts.bursts.record(length: run) }
                run = 0
            } else {
                run += 1
            }
            sequence += 1
        }
        // The highest sequence was received, so every run ended before it.
    }

    func appendPattern(to pattern: inout [Bool]) {
        pattern.reserveCapacity(pattern.count + Int(highest - start + 1))
        var sequence = start
        while sequence <= highest {
            pattern.append(!isSet(sequence))
            sequence += 1
        }
    }
}
