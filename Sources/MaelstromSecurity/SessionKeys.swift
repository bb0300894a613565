import Crypto
import MaelstromCore

/// Which side of the handshake that made a session this gateway was.
public enum HandshakeRole: Sendable, Equatable {
    /// It sent the initiation.
    case initiator
    /// It answered one.
    case responder
}

/// The keys of one session with one peer (one completed handshake): a key per lane and direction,
/// the indices both sides use to name it, and when it was made. Immutable, shared by every lane;
/// the counters and replay windows that go with it belong to each lane.
///
/// Each lane seals with its own key, derived from the session's sending key and the lane's index,
/// so lanes count their nonces independently and can never reuse one another's.
public final class SessionKeys: @unchecked Sendable {
    /// The index the peer writes in every frame it seals for this session (ours, chosen at random).
    public let localIndex: UInt32
    /// The index we write in every frame we seal (the peer's).
    public let remoteIndex: UInt32
    /// Monotonic nanoseconds when the handshake completed here.
    public let createdAt: UInt64
    /// Which side this gateway was.
    public let role: HandshakeRole

    /// `LaneID.maxLanes` sending keys, then as many receiving keys, 32 bytes each.
    let keys: UnsafeMutableRawPointer

    /// Derives the per-lane keys from the two transport keys of a handshake.
    init(localIndex: UInt32, remoteIndex: UInt32, createdAt: UInt64, role: HandshakeRole, send: [UInt8], receive: [UInt8]) {
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.createdAt = createdAt
        self.role = role
        let lanes = LaneID.maxLanes
        keys = .allocate(byteCount: 2 * lanes * 32, alignment: 64)
        for lane in 0..<lanes {
            Self.deriveLaneKey(from: send, lane: lane, into: keys + lane * 32)
            Self.deriveLaneKey(from: receive, lane: lane, into: keys + (lanes + lane) * 32)
        }
    }

    deinit {
        Sodium.wipe(keys, count: 2 * LaneID.maxLanes * 32)
        keys.deallocate()
    }

    /// The key lane `lane` seals with.
    @inline(__always)
    func sendKey(lane: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys + lane &* 32) }

    /// The key frames from the peer's lane `lane` are opened with.
    @inline(__always)
    func receiveKey(lane: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys + (LaneID.maxLanes &+ lane) &* 32) }

    /// HKDF-Expand (SHA-256) of a transport key with the lane in the info: the same on both sides.
    static func deriveLaneKey(from key: [UInt8], lane: Int, into output: UnsafeMutableRawPointer) {
        let info = Array("maelstrom lane key".utf8) + [UInt8(lane)]
        let derived = HKDF<SHA256>.expand(pseudoRandomKey: SymmetricKey(data: key), info: info, outputByteCount: 32)
        derived.withUnsafeBytes { output.copyMemory(from: $0.baseAddress!, byteCount: 32) }
    }
}

/// The sessions of one peer that frames may be opened with, as the handshake owner publishes them:
/// WireGuard's slots, with a few previous sessions rather than one, because both gateways may
/// rekey at once and each may go on sealing with a session the other has already replaced.
public struct PeerSessions: Sendable {
    /// How many replaced sessions stay receivable (until they expire).
    public static let keptPrevious = 3

    /// The session frames are sealed with.
    public var current: SessionKeys?
    /// Sessions replaced, newest first, kept so frames sealed under them still open.
    public var previous: [SessionKeys] = []
    /// A session this gateway answered but has not yet seen used by the peer: it is not sealed
    /// with until the peer's first frame under it proves the peer has it too.
    public var next: SessionKeys?

    /// No sessions.
    public init() {}

    /// Every session held.
    public var all: [SessionKeys] { [current, next].compactMap { $0 } + previous }
}
