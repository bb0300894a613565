/// The fuzz targets: each takes arbitrary bytes, drives one parser or state machine with them and
/// checks that machine's own invariants, throwing a `FuzzFinding` when one does not hold.
///
/// The same code runs under libFuzzer (`scripts/fuzz.sh`, built with `-sanitize=fuzzer,address`)
/// and, as a regression suite over the committed corpus and every input a fuzzer ever found, in
/// the unit tests.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `Frame.parse` on raw bytes and on the same bytes with a correct header checksum.
    case frame
    /// One decoder fed a script of frames of two streams: in order, out of order, duplicated,
    /// truncated, with flipped header bits, garbage, keepalives and the passing of time.
    case decoder
    /// A gateway's inbound path (datagrams from its peer and from strangers) and outbound path.
    case inbound
    /// The IP packet checks, the MSS clamp, and the splitting of TUN super-segments.
    case packet
    /// The YAML config loader, and the effective config it prints read back.
    case config
    /// A sealed lane's opening of datagrams and the handshake messages it passes on.
    case sealed
    /// Two tunnels' handshakes and sealed frames through a network that mutates, replays, drops
    /// and forges them (with a correct mac1, to reach the Noise code).
    case handshake

    /// Runs the target once on `data`.
    public func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) {
        switch self {
        case .frame: try FrameFuzz.run(data)
        case .decoder: try DecoderFuzz.run(data)
        case .inbound: try InboundFuzz.run(data)
        case .packet: try PacketFuzz.run(data)
        case .config: try ConfigFuzz.run(data)
        case .sealed: try SealedFuzz.run(data)
        case .handshake: try HandshakeFuzz.run(data)
        }
    }

    /// Runs the target once on `bytes`.
    public func run(_ bytes: [UInt8]) throws(FuzzFinding) {
        var finding: FuzzFinding?
        bytes.withUnsafeBytes { raw in
            do throws(FuzzFinding) { try run(raw) } catch { finding = error }
        }
        if let finding { throw finding }
    }
}

/// An invariant that did not hold: what a fuzzer reports as a crash.
public struct FuzzFinding: Error, Sendable, CustomStringConvertible {
    /// The target that found it.
    public let target: FuzzTarget
    /// Which invariant, in one line.
    public let message: String

    /// Creates a finding.
    public init(_ target: FuzzTarget, _ message: String) {
        self.target = target
        self.message = message
    }

    /// `target: message`.
    public var description: String { "\(target.rawValue): \(message)" }
}

/// Reads a fuzzer's bytes front to back; past the end every read gives zeros, so a script always ends.
struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }
    var remaining: Int { max(0, bytes.count - offset) }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    /// The next `count` bytes (fewer at the end).
    mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, offset + max(0, count))
        defer { offset = end }
        return offset < end ? Array(bytes[offset..<end]) : []
    }

    /// Everything not read yet.
    mutating func rest() -> [UInt8] { take(remaining) }
}
