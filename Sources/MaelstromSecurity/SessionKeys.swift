import Crypto
import MaelstromCore

/// The AEAD a session seals its frames with, agreed in the handshake.
public enum FrameCipher: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// ChaCha20-Poly1305 (RFC 8439): every gateway offers it.
    case chacha20Poly1305 = 1
    /// AES-256-GCM: chosen when both gateways' CPUs run AES in hardware (about twice as fast there).
    case aes256GCM = 2

    /// The offer bit of this cipher in the initiation.
    var offerBit: UInt8 { rawValue }

    /// The ciphers this machine can offer: AES-256-GCM only with hardware AES.
    public static var available: [FrameCipher] { Sodium.hasHardwareAES ? [.aes256GCM, .chacha20Poly1305] : [.chacha20Poly1305] }

    /// Its name in logs and metrics.
    public var description: String {
        switch self {
        case .chacha20Poly1305: "chacha20-poly1305"
        case .aes256GCM: "aes-256-gcm"
        }
    }
}

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
    /// The AEAD its frames are sealed with.
    public let cipher: FrameCipher

    /// `LaneID.maxLanes` sending keys, then as many receiving keys, 32 bytes each. (AES-256-GCM
    /// keys are expanded by each lane's own OpenSSL contexts, `LaneSession`.)
    let keys: UnsafeMutableRawPointer
    private let keyStride: Int

    /// Derives the per-lane keys from the two transport keys of a handshake.
    init(
        localIndex: UInt32, remoteIndex: UInt32, createdAt: UInt64, role: HandshakeRole, cipher: FrameCipher = .chacha20Poly1305,
        send: [UInt8], receive: [UInt8]
    ) {
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.createdAt = createdAt
        self.role = role
        self.cipher = cipher
        keyStride = 32
        let lanes = LaneID.maxLanes
        keys = .allocate(byteCount: 2 * lanes * keyStride, alignment: 64)
        var raw = [UInt8](repeating: 0, count: 32)
        for lane in 0..<(2 * lanes) {
            raw.withUnsafeMutableBytes { derived in
                Self.deriveLaneKey(from: lane < lanes ? send : receive, lane: lane % lanes, into: derived.baseAddress!)
                (keys + lane * keyStride).copyMemory(from: derived.baseAddress!, byteCount: 32)
            }
        }
        Sodium.wipe(&raw)
    }

    deinit {
        Sodium.wipe(keys, count: 2 * LaneID.maxLanes * keyStride)
        keys.deallocate()
    }

    /// The key (or expanded key) lane `lane` seals with.
    @inline(__always)
    func sendKey(lane: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys + lane &* keyStride) }

    /// The key (or expanded key) frames from the peer's lane `lane` are opened with.
    @inline(__always)
    func receiveKey(lane: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys + (LaneID.maxLanes &+ lane) &* keyStride) }

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
