import NIOConcurrencyHelpers
import MaelstromCore
import Synchronization

/// Why a tunnel could not be set up.
public struct TunnelSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The peer at fault, if one is.
    public let peer: PeerID?
    /// What is wrong.
    public let message: String

    /// A sentence naming the problem.
    public var description: String { message }
}

/// What the tunnel is set up with: this gateway's static key and each peer's public key and
/// optional pre-shared key, in the gateway's peer order.
public struct TunnelSettings: Sendable {
    /// This gateway's static private key.
    public var privateKey: PrivateKey
    /// Each peer's public key and pre-shared key, by `PeerID`.
    public var peers: [(publicKey: PublicKey, presharedKey: PresharedKey?)]
    /// The timing rules.
    public var timers: TunnelTimers
    /// The frame ciphers offered and accepted, preferred first (ChaCha20-Poly1305 is always among them).
    public var ciphers: [FrameCipher]

    /// Creates settings.
    public init(
        privateKey: PrivateKey, peers: [(publicKey: PublicKey, presharedKey: PresharedKey?)], timers: TunnelTimers = TunnelTimers(),
        ciphers: [FrameCipher] = FrameCipher.available
    ) {
        self.privateKey = privateKey
        self.peers = peers
        self.timers = timers
        self.ciphers = ciphers.contains(.chacha20Poly1305) ? ciphers : ciphers + [.chacha20Poly1305]
    }
}

/// The gateway's handshakes with all its peers, shared by its lanes: the one owner of every
/// session. Lanes hand it the handshake messages they receive (rarely: a few per peer every two
/// minutes) and read the sessions it publishes; lane 0 runs its timers. Every other frame is
/// sealed and opened by the lanes themselves (`LaneSecurity`) without touching this lock.
///
/// `@unchecked`: the core, a class, is only ever touched inside its lock. The lock is NIO's
/// (pthread), not the standard library's `Mutex`, whose futex code ThreadSanitizer cannot see
/// into on Linux: every access under a `Mutex` showed up as a race (docs/RELIABILITY.md).
public final class SecureTunnel: @unchecked Sendable {
    /// The timing rules.
    public let timers: TunnelTimers
    /// Number of peers.
    public let peerCount: Int
    /// The key mac1 of every handshake message to this gateway is made with (lanes check it
    /// without the lock, so a flood of junk never reaches it).
    public let mac1Key: [UInt8]

    private let core: NIOLockedValueBox<TunnelCore>
    /// Bumped after every change of any peer's sessions: lanes compare it once per turn.
    private let published = Atomic<UInt64>(0)
    private let deadline = Atomic<UInt64>(0)

    /// Sets up the handshakes; nothing is sent until lane 0's first `tick`.
    public init(settings: TunnelSettings, random: any TunnelRandomSource = SystemTunnelRandom(), now: UInt64) throws(TunnelSetupError) {
        _ = Sodium.initialised
        timers = settings.timers
        peerCount = settings.peers.count
        let own = settings.privateKey.publicKey
        for (index, peer) in settings.peers.enumerated() where peer.publicKey == own {
            throw TunnelSetupError(peer: PeerID(index), message: "peer \(index)'s public key is this gateway's own")
        }
        let made: TunnelCore
        do {
            made = try TunnelCore(
                privateKey: settings.privateKey.bytes, peers: settings.peers.map { ($0.publicKey.bytes, $0.presharedKey?.bytes) },
                timers: settings.timers, ciphers: settings.ciphers.filter { $0 != .aes256GCM || Sodium.hasHardwareAES }, random: random, now: now)
        } catch {
            throw TunnelSetupError(peer: nil, message: "a peer's public key is not a usable Curve25519 key (\(error))")
        }
        mac1Key = made.mac1KeyForUs
        let firstDeadline = made.nextDeadline()
        core = NIOLockedValueBox(made)
        deadline.store(firstDeadline, ordering: .releasing)
    }

    /// Changes whenever any peer's sessions change.
    public var generation: UInt64 { published.load(ordering: .acquiring) }

    /// When lane 0 must call `tick` next.
    public var nextDeadline: UInt64 { deadline.load(ordering: .relaxed) }

    /// Every peer's sessions as of now, and the generation they belong to.
    public func sessions() -> (generation: UInt64, peers: [PeerSessions]) {
        core.withLockedValue { core in (published.load(ordering: .acquiring), core.peers.map(\.sessions)) }
    }

    /// Lane 0's timers: initiations, retries, rekeys, expiry, cookie secret rotation.
    public func tick(now: UInt64, wallNanoseconds: UInt64, send: HandshakeSend) {
        update { $0.tick(now: now, wallNanoseconds: wallNanoseconds, send: send) }
    }

    /// A handshake message from `peer`, received by any lane (the source address matched `peer`).
    /// Replies go out through `send` on the calling lane.
    public func receive(
        handshake message: UnsafeRawBufferPointer, from peer: PeerID, source: Endpoint, now: UInt64, wallNanoseconds: UInt64,
        send: HandshakeSend
    ) {
        update { $0.receive(message, from: peer.index, source: source, now: now, wallNanoseconds: wallNanoseconds, send: send) }
    }

    /// A lane opened a frame from `peer` under `session`, which was its `next`: promote it.
    public func confirm(peer: PeerID, session: SessionKeys) {
        update { $0.confirm(peer.index, session: session) }
    }

    /// A lane received frames from `peer` under a session this gateway does not have.
    public func sessionUnknown(peer: PeerID, now: UInt64, wallNanoseconds: UInt64, send: HandshakeSend) {
        update { $0.sessionUnknown(peer.index, now: now, wallNanoseconds: wallNanoseconds, send: send) }
    }

    /// A lane's counter on the current session passed `rekeyAfterMessages`.
    public func rekeyWanted(peer: PeerID) {
        update { core in
            core.peers[peer.index].rekeyWanted = true
        }
    }

    /// The handshake counters of `peer`.
    public func counters(peer: PeerID) -> HandshakeCounters {
        core.withLockedValue { $0.peers[peer.index].counters }
    }

    private func update(_ body: (TunnelCore) -> Void) {
        core.withLockedValue { core in
            body(core)
            if core.sessionsChanged {
                core.sessionsChanged = false
                published.add(1, ordering: .releasing)
            }
            deadline.store(core.nextDeadline(), ordering: .releasing)
        }
    }
}
