import MaelstromCore

/// One session as one lane uses it: the keys, this lane's send counter, and a replay window for
/// each of the peer's lanes whose frames arrive here.
final class LaneSession {
    let keys: SessionKeys
    let localIndex: UInt32
    let remoteIndex: UInt32
    let createdAt: UInt64
    let sendKey: UnsafeRawPointer
    var sendCounter: UInt64 = 0
    /// Made on the first frame from each peer lane (once per session and lane, not per frame).
    var windows: [ReplayWindow?] = Array(repeating: nil, count: LaneID.maxLanes)
    /// The owner has been told this lane saw the peer use it (for a `next` session).
    var confirmationSent = false
    /// AES-256-GCM sessions: this lane's sealing context, and an opening context per peer lane
    /// (made on its first frame). Nil under ChaCha20-Poly1305, whose raw keys libsodium takes.
    private let sealer: AESGCMContext?
    private var openers: [AESGCMContext?] = Array(repeating: nil, count: LaneID.maxLanes)

    init(keys: SessionKeys, lane: LaneID) {
        self.keys = keys
        localIndex = keys.localIndex
        remoteIndex = keys.remoteIndex
        createdAt = keys.createdAt
        sendKey = keys.sendKey(lane: lane.index)
        sealer = keys.cipher == .aes256GCM ? AESGCMContext(key: sendKey, sealing: true) : nil
    }

    /// Seals in place with the session's cipher and this lane's key.
    @inline(__always)
    func seal(_ text: UnsafeMutableRawPointer, count: Int, tag: UnsafeMutableRawPointer, ad: UnsafeRawPointer, adCount: Int, counter: UInt64) {
        if let sealer {
            sealer.seal(text, count: count, tag: tag, ad: ad, adCount: adCount, counter: counter)
        } else {
            Sodium.seal(text, count: count, tag: tag, ad: ad, adCount: adCount, counter: counter, key: sendKey)
        }
    }

    /// Opens in place a frame the peer's lane `remoteLane` sealed; false when the tag fails.
    @inline(__always)
    func open(
        _ text: UnsafeMutableRawPointer, count: Int, tag: UnsafeRawPointer, ad: UnsafeRawPointer, adCount: Int, counter: UInt64, remoteLane: Int
    ) -> Bool {
        guard keys.cipher == .aes256GCM else {
            return Sodium.open(text, count: count, tag: tag, ad: ad, adCount: adCount, counter: counter, key: keys.receiveKey(lane: remoteLane))
        }
        let opener: AESGCMContext
        if let made = openers[remoteLane] {
            opener = made
        } else {
            opener = AESGCMContext(key: keys.receiveKey(lane: remoteLane), sealing: false)
            openers[remoteLane] = opener
        }
        return opener.open(text, count: count, tag: tag, ad: ad, adCount: adCount, counter: counter)
    }

    @inline(__always)
    func window(for lane: Int) -> ReplayWindow {
        if let window = windows[lane] { return window }
        let made = ReplayWindow()
        windows[lane] = made
        return made
    }
}

/// One peer's sessions as one lane holds them.
final class LanePeer {
    var current: LaneSession?
    var previous: [LaneSession] = []
    var next: LaneSession?
    var counters = SealingCounters()
    /// When this lane last told the owner about frames under an unknown session.
    var unknownReportedAt: UInt64? = nil

    @inline(__always)
    func session(index: UInt32) -> LaneSession? {
        if let current, current.localIndex == index { return current }
        if let next, next.localIndex == index { return next }
        var position = 0
        while position < previous.count {
            if previous[position].localIndex == index { return previous[position] }
            position &+= 1
        }
        return nil
    }
}

/// What opening a datagram gave.
public enum OpenedDatagram {
    /// An authenticated frame, envelope included and tag stripped, ready for `Gateway.inbound`.
    case frame(UnsafeRawBufferPointer)
    /// A handshake message with a valid mac1: hand it to `SecureTunnel.receive(handshake:…)`.
    case handshake
    /// A sealed frame under a session this gateway does not have: see `reportUnknownSession`.
    case unknownSession
    /// Refused and counted.
    case refused
}

/// One lane's sealing and opening of frames: its copy of the sessions the tunnel publishes, its
/// own counters (nonces) and replay windows. Confined to the lane's thread; the tunnel's lock is
/// taken only when the sessions change, for handshake messages, and once per new session.
/// Allocates nothing per datagram.
public final class LaneSecurity {
    /// The lane.
    public let lane: LaneID
    /// The gateway's handshakes.
    public let tunnel: SecureTunnel
    private let peers: [LanePeer]
    private var seenGeneration: UInt64 = .max
    private let timers: TunnelTimers
    private let mac1Key: [UInt8]

    /// Creates lane `lane`'s security over `tunnel`.
    public init(lane: LaneID, tunnel: SecureTunnel) {
        self.lane = lane
        self.tunnel = tunnel
        self.timers = tunnel.timers
        self.mac1Key = tunnel.mac1Key
        peers = (0..<tunnel.peerCount).map { _ in LanePeer() }
    }

    /// Adopts the tunnel's sessions if they changed (one atomic load otherwise). `announce` is
    /// called for each peer this lane can now seal for and could not before.
    @inline(__always)
    public func refresh(announce: (PeerID) -> Void) {
        guard tunnel.generation != seenGeneration else { return }
        adopt(announce: announce)
    }

    private func adopt(announce: (PeerID) -> Void) {
        let (generation, published) = tunnel.sessions()
        seenGeneration = generation
        for index in peers.indices {
            let peer = peers[index]
            let known = [peer.current, peer.next].compactMap { $0 } + peer.previous
            let ownLane = lane
            func laneSession(_ keys: SessionKeys?) -> LaneSession? {
                guard let keys else { return nil }
                return known.first { $0.keys === keys } ?? LaneSession(keys: keys, lane: ownLane)
            }
            let hadCurrent = peer.current != nil
            peer.current = laneSession(published[index].current)
            peer.previous = published[index].previous.compactMap { laneSession($0) }
            peer.next = laneSession(published[index].next)
            if !hadCurrent && peer.current != nil { announce(PeerID(index)) }
        }
    }

    /// Seals the `length`-byte frame at `frame` in place for `peer` (its envelope written with
    /// `WireFormat.writeSealableEnvelope`); the tag goes after it. Returns the sealed length, or
    /// 0 when there is no session to seal with yet (counted; the frame is not sent).
    @inline(__always)
    public func seal(frame: UnsafeMutableRawPointer, length: Int, peer: PeerID, now: UInt64) -> Int {
        let lanePeer = peers[peer.index]
        guard let session = lanePeer.current, now &- session.createdAt < timers.rejectAfter,
            session.sendCounter < timers.rejectAfterMessages
        else {
            lanePeer.counters.unsentNoSession &+= 1
            return 0
        }
        let counter = session.sendCounter
        session.sendCounter = counter &+ 1
        if counter == timers.rekeyAfterMessages { tunnel.rekeyWanted(peer: peer) }
        frame.storeBytes(of: WireFormat.sealedFlag, toByteOffset: 3, as: UInt8.self)
        frame.storeBigEndian(session.remoteIndex, at: 4)
        frame.storeBigEndian(counter, at: 8)
        let clear = WireFormat.envelopeSize &+ WireFormat.clearHeaderSize(typeByte: frame.load(fromByteOffset: 1, as: UInt8.self))
        session.seal(
            frame + clear, count: length &- clear, tag: frame + length, ad: UnsafeRawPointer(frame), adCount: clear, counter: counter)
        lanePeer.counters.sealed &+= 1
        return length &+ WireFormat.sealOverhead
    }

    /// Opens a datagram from `peer` in place: a sealed frame is authenticated, checked against
    /// the replay window and decrypted; a handshake message is only checked for its mac1.
    @inline(__always)
    public func open(_ datagram: UnsafeMutableRawBufferPointer, peer: PeerID, now: UInt64) -> OpenedDatagram {
        let lanePeer = peers[peer.index]
        guard datagram.count >= WireFormat.envelopeSize, let base = datagram.baseAddress,
            base.load(as: UInt8.self) == WireFormat.version
        else {
            lanePeer.counters.refusedMalformed &+= 1
            return .refused
        }
        let type = base.load(fromByteOffset: 1, as: UInt8.self)
        if HandshakeWire.isHandshake(type: type) {
            // Cookie replies carry no mac1: the tunnel checks them against its own initiation.
            if type != HandshakeWire.cookieReplyType {
                let valid = mac1Key.withUnsafeBytes { HandshakeWire.verifyMAC1(UnsafeRawBufferPointer(datagram), key: $0) }
                guard valid else {
                    lanePeer.counters.refusedHandshakeMAC &+= 1
                    return .refused
                }
            }
            return .handshake
        }
        guard base.load(fromByteOffset: 3, as: UInt8.self) == WireFormat.sealedFlag else {
            lanePeer.counters.refusedPlaintext &+= 1
            return .refused
        }
        let remoteLane = Int(base.load(fromByteOffset: 2, as: UInt8.self))
        let clear = WireFormat.envelopeSize &+ WireFormat.clearHeaderSize(typeByte: type)
        guard datagram.count >= clear + WireFormat.sealOverhead, remoteLane < LaneID.maxLanes, FrameType(rawValue: type) != nil
        else {
            lanePeer.counters.refusedMalformed &+= 1
            return .refused
        }
        guard let session = lanePeer.session(index: UnsafeRawPointer(base).loadBigEndianUInt32(at: 4)) else {
            lanePeer.counters.refusedUnknownSession &+= 1
            return .unknownSession
        }
        guard now &- session.createdAt < timers.rejectAfter else {
            lanePeer.counters.refusedExpiredSession &+= 1
            return .refused
        }
        let counter = UnsafeRawPointer(base).loadBigEndianUInt64(at: 8)
        let window = session.window(for: remoteLane)
        // Read-only first: a replay costs no decryption. The window moves only after the tag verified.
        guard counter < timers.rejectAfterMessages, window.mayAccept(counter) else {
            lanePeer.counters.refusedReplay &+= 1
            return .refused
        }
        let textLength = datagram.count &- clear &- WireFormat.sealOverhead
        guard session.open(
            base + clear, count: textLength, tag: UnsafeRawPointer(base + clear + textLength), ad: UnsafeRawPointer(base),
            adCount: clear, counter: counter, remoteLane: remoteLane)
        else {
            lanePeer.counters.refusedAuthentication &+= 1
            return .refused
        }
        guard window.accept(counter) else {
            lanePeer.counters.refusedReplay &+= 1
            return .refused
        }
        lanePeer.counters.opened &+= 1
        if session === lanePeer.next && !session.confirmationSent {
            session.confirmationSent = true
            tunnel.confirm(peer: peer, session: session.keys)
        }
        return .frame(UnsafeRawBufferPointer(start: base, count: clear &+ textLength))
    }

    /// After `open` said `.unknownSession`: tells the tunnel (at most every 100 ms per peer from
    /// this lane, so a flood of such frames does not contend for its lock), which may start a handshake.
    public func reportUnknownSession(peer: PeerID, now: UInt64, wallNanoseconds: UInt64, send: HandshakeSend) {
        let lanePeer = peers[peer.index]
        if let last = lanePeer.unknownReportedAt, now &- last < 100_000_000 { return }
        lanePeer.unknownReportedAt = now
        tunnel.sessionUnknown(peer: peer, now: now, wallNanoseconds: wallNanoseconds, send: send)
    }

    /// Whether this lane has a session with `peer` (it may have expired: see `readyToSeal`).
    public func canSeal(peer: PeerID) -> Bool { peers[peer.index].current != nil }

    /// Whether `seal` would seal for `peer` now; when not, counts the frame as unsent.
    @inline(__always)
    public func readyToSeal(peer: PeerID, now: UInt64) -> Bool {
        let lanePeer = peers[peer.index]
        guard let session = lanePeer.current, now &- session.createdAt < timers.rejectAfter,
            session.sendCounter < timers.rejectAfterMessages
        else {
            lanePeer.counters.unsentNoSession &+= 1
            return false
        }
        return true
    }

    /// This lane's counters for `peer`.
    public func counters(peer: PeerID) -> SealingCounters { peers[peer.index].counters }
}
