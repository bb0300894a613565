import MaelstromCore

/// Randomness for ephemeral keys, indices, cookie secrets and jitter; injected so tests can replay runs.
public protocol TunnelRandomSource: Sendable {
    /// Fills `buffer` with random bytes.
    func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

/// The system's generator (`getrandom`).
public struct SystemTunnelRandom: TunnelRandomSource {
    /// Creates the source.
    public init() {}
    /// Fills `buffer` from `SystemRandomNumberGenerator`.
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var generator = SystemRandomNumberGenerator()
        var offset = 0
        while offset < buffer.count {
            let word = generator.next()
            withUnsafeBytes(of: word) { bytes in
                let count = min(8, buffer.count - offset)
                buffer.baseAddress!.advanced(by: offset).copyMemory(from: bytes.baseAddress!, byteCount: count)
                offset += count
            }
        }
    }
}

/// Where a handshake message goes: the peer it is for, and its bytes (valid during the call).
public typealias HandshakeSend = (PeerID, UnsafeRawBufferPointer) -> Void

/// The handshake state machine of a gateway: one `PeerHandshake` per peer, the cookie secret and
/// the load estimate. Fed with messages and the time; returns what to send through a closure.
/// `SecureTunnel` owns it behind a lock.
final class TunnelCore {
    let staticPrivate: [UInt8]
    let staticPublic: [UInt8]
    /// mac1 of messages to us is made with this; cookie replies we send are sealed with the other.
    let mac1KeyForUs: [UInt8]
    let cookieKeyForUs: [UInt8]
    let timers: TunnelTimers
    /// Offered in initiations (a bit each) and chosen from in responses, preferred first.
    let ciphers: [FrameCipher]
    let random: any TunnelRandomSource
    var peers: [PeerHandshake]
    private var localIndices: Set<UInt32> = []
    private var cookieSecret: [UInt8]
    private var previousCookieSecret: [UInt8]? = nil
    private var cookieSecretAt: UInt64
    private var loadWindowStart: UInt64 = 0
    private var loadCount = 0
    private var underLoadUntil: UInt64 = 0
    /// Set whenever a peer's sessions change; the owner publishes and clears it.
    var sessionsChanged = false

    init(
        privateKey: [UInt8], peers: [(publicKey: [UInt8], psk: [UInt8]?)], timers: TunnelTimers, ciphers: [FrameCipher],
        random: any TunnelRandomSource, now: UInt64
    ) throws(NoiseError) {
        self.ciphers = ciphers
        staticPrivate = privateKey
        staticPublic = try Curve25519DH.publicKey(of: privateKey)
        mac1KeyForUs = HandshakeWire.mac1Key(for: staticPublic)
        cookieKeyForUs = HandshakeWire.cookieKey(for: staticPublic)
        self.timers = timers
        self.random = random
        self.peers = []
        for peer in peers {
            // A peer whose key gives an all-zero static secret could never authenticate: refuse now.
            _ = try Curve25519DH.sharedSecret(privateKey, peer.publicKey)
            self.peers.append(PeerHandshake(publicKey: peer.publicKey, psk: peer.psk))
        }
        cookieSecret = [UInt8](repeating: 0, count: 32)
        cookieSecretAt = now
        cookieSecret = randomBytes(32)
    }

    // MARK: Sending initiations

    /// Starts a handshake with `peer` now: a new ephemeral key, timestamp and index.
    func initiate(_ peer: Int, now: UInt64, wallNanoseconds: UInt64, send: HandshakeSend) {
        let localIndex = newIndex()
        var noise: NoiseInitiator
        var body: [UInt8]
        do {
            noise = try NoiseInitiator(
                prologue: HandshakeWire.prologue, staticPrivate: staticPrivate, remoteStatic: peers[peer].publicKey,
                psk: peers[peer].psk, ephemeralPrivate: randomBytes(32))
            let offer = ciphers.reduce(UInt8(0)) { $0 | $1.offerBit }
            body = try noise.writeFirst(payload: HandshakeWire.timestamp(wallNanoseconds: wallNanoseconds) + [offer])
        } catch {
            localIndices.remove(localIndex)
            return  // the peer's key was checked at start: not reached
        }
        var message = [UInt8](repeating: 0, count: HandshakeWire.initiationSize)
        var mac1: [UInt8] = []
        let cookie = freshCookie(peer, now: now)
        message.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            HandshakeWire.writeEnvelope(base, type: HandshakeWire.initiationType, index: localIndex)
            body.withUnsafeBytes { (base + WireFormat.envelopeSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            HandshakeWire.writeMAC1(base, count: raw.count, key: peers[peer].mac1Key)
            HandshakeWire.writeMAC2(base, count: raw.count, cookie: cookie)
            let offset = HandshakeWire.mac1Offset(messageSize: raw.count)
            mac1 = Array(raw[offset..<(offset + HandshakeWire.macBytes)])
        }
        if peers[peer].pending.count >= 2 { localIndices.remove(peers[peer].pending.removeFirst().localIndex) }
        peers[peer].pending.append(PendingInitiation(localIndex: localIndex, noise: noise, sentAt: now, mac1: mac1))
        peers[peer].lastInitiationAt = now
        peers[peer].nextRetryAt = now.saturatingAdd(timers.retryInterval).saturatingAdd(jitter())
        peers[peer].rekeyWanted = false
        peers[peer].counters.initiationsSent &+= 1
        message.withUnsafeBytes { send(PeerID(peer), $0) }
    }

    /// Frames arrived under a session this gateway does not know: the peer kept one across our
    /// restart (or they are replays). Start a handshake unless one is fresh or just started.
    func sessionUnknown(_ peer: Int, now: UInt64, wallNanoseconds: UInt64, send: HandshakeSend) {
        if let current = peers[peer].sessions.current, now &- current.createdAt < timers.freshSession { return }
        if let last = peers[peer].lastInitiationAt, now &- last < timers.unknownSessionInitiationInterval { return }
        initiate(peer, now: now, wallNanoseconds: wallNanoseconds, send: send)
    }

    // MARK: Receiving

    /// Handles a handshake message from `peer` (the source address already matched it).
    func receive(
        _ message: UnsafeRawBufferPointer, from peer: Int, source: Endpoint, now: UInt64, wallNanoseconds: UInt64,
        send: HandshakeSend
    ) {
        guard message.count >= WireFormat.envelopeSize, let base = message.baseAddress else {
            peers[peer].counters.refusedMalformed &+= 1
            return
        }
        let type = base.load(fromByteOffset: 1, as: UInt8.self)
        guard let size = HandshakeWire.size(of: type), message.count == size,
            base.load(fromByteOffset: 2, as: UInt8.self) == 0, base.load(fromByteOffset: 3, as: UInt8.self) == 0
        else {
            peers[peer].counters.refusedMalformed &+= 1
            return
        }
        if type == HandshakeWire.cookieReplyType {
            receiveCookieReply(message, from: peer, now: now, wallNanoseconds: wallNanoseconds, send: send)
            return
        }
        let valid = mac1KeyForUs.withUnsafeBytes { HandshakeWire.verifyMAC1(message, key: $0) }
        guard valid else {
            peers[peer].counters.refusedMAC &+= 1
            return
        }
        if isUnderLoad(now: now) {
            let cookie = cookieFor(source, secret: cookieSecret)
            let previous = previousCookieSecret.map { cookieFor(source, secret: $0) }
            guard HandshakeWire.verifyMAC2(message, cookie: cookie) || previous.map({ HandshakeWire.verifyMAC2(message, cookie: $0) }) == true else {
                sendCookieReply(to: peer, for: message, cookie: cookie, send: send)
                peers[peer].counters.refusedNeedsCookie &+= 1
                return
            }
            guard peers[peer].takeToken(now: now, timers: timers) else {
                peers[peer].counters.refusedRateLimited &+= 1
                return
            }
        }
        if type == HandshakeWire.initiationType {
            receiveInitiation(message, from: peer, now: now, send: send)
        } else {
            receiveResponse(message, from: peer, now: now)
        }
    }

    private func receiveInitiation(_ message: UnsafeRawBufferPointer, from peer: Int, now: UInt64, send: HandshakeSend) {
        let base = message.baseAddress!
        let remoteIndex = base.loadBigEndianUInt32(at: 4)
        let body = Array(message[WireFormat.envelopeSize..<HandshakeWire.mac1Offset(messageSize: message.count)])
        var noise: NoiseResponder
        let remoteStatic: [UInt8]
        let payload: [UInt8]
        do {
            noise = try NoiseResponder(prologue: HandshakeWire.prologue, staticPrivate: staticPrivate)
            (remoteStatic, payload) = try noise.readFirst(body)
        } catch {
            peers[peer].counters.refusedDecrypt &+= 1
            return
        }
        let matches = remoteStatic.withUnsafeBytes { received in peers[peer].publicKey.withUnsafeBytes { Sodium.equal(received, $0) } }
        guard matches else {
            peers[peer].counters.refusedWrongKey &+= 1
            return
        }
        // The payload: a 12-byte timestamp, then the initiator's cipher offer.
        guard payload.count == 13 else {
            peers[peer].counters.refusedMalformed &+= 1
            return
        }
        let timestamp = Array(payload[0..<12])
        let offer = payload[12]
        guard timestamp.lexicographicallyPrecedes(peers[peer].lastTimestamp) == false, timestamp != peers[peer].lastTimestamp else {
            peers[peer].counters.refusedReplay &+= 1
            return
        }
        if let last = peers[peer].lastAcceptedInitiationAt, now &- last < timers.initiationFloodInterval {
            peers[peer].counters.refusedFlood &+= 1
            return
        }
        // Every check passed: only now does anything about the peer change.
        let cipher = ciphers.first { offer & $0.offerBit != 0 } ?? .chacha20Poly1305
        let localIndex = newIndex()
        let reply: [UInt8]
        do {
            reply = try noise.writeSecond(payload: [cipher.rawValue], psk: peers[peer].psk, ephemeralPrivate: randomBytes(32))
        } catch {
            localIndices.remove(localIndex)
            peers[peer].counters.refusedDecrypt &+= 1
            return
        }
        peers[peer].lastTimestamp = timestamp
        peers[peer].lastAcceptedInitiationAt = now
        let keys = noise.split()
        let session = SessionKeys(
            localIndex: localIndex, remoteIndex: remoteIndex, createdAt: now, role: .responder, cipher: cipher, send: keys.send,
            receive: keys.receive)
        // An earlier answered session may be in use at the peer (our proof of it may be in flight).
        if let old = peers[peer].sessions.next { retire(old, peer: peer) }
        peers[peer].sessions.next = session
        sessionsChanged = true
        var response = [UInt8](repeating: 0, count: HandshakeWire.responseSize)
        let cookie = freshCookie(peer, now: now)
        response.withUnsafeMutableBytes { raw in
            let out = raw.baseAddress!
            HandshakeWire.writeEnvelope(out, type: HandshakeWire.responseType, index: localIndex, secondIndex: remoteIndex)
            reply.withUnsafeBytes { (out + WireFormat.envelopeSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            HandshakeWire.writeMAC1(out, count: raw.count, key: peers[peer].mac1Key)
            HandshakeWire.writeMAC2(out, count: raw.count, cookie: cookie)
        }
        peers[peer].counters.responsesSent &+= 1
        response.withUnsafeBytes { send(PeerID(peer), $0) }
    }

    private func receiveResponse(_ message: UnsafeRawBufferPointer, from peer: Int, now: UInt64) {
        let base = message.baseAddress!
        let remoteIndex = base.loadBigEndianUInt32(at: 4)
        let receiverIndex = base.loadBigEndianUInt32(at: 8)
        guard let slot = peers[peer].pendingIndex(of: receiverIndex) else {
            peers[peer].counters.refusedUnexpected &+= 1
            return
        }
        // A copy: a forged response must leave the real initiation able to complete.
        var noise = peers[peer].pending[slot].noise
        let choice: [UInt8]
        do {
            choice = try noise.readSecond(Array(message[WireFormat.envelopeSize..<HandshakeWire.mac1Offset(messageSize: message.count)]))
        } catch {
            peers[peer].counters.refusedDecrypt &+= 1
            return
        }
        // The responder must choose one of the ciphers offered.
        guard choice.count == 1, let cipher = FrameCipher(rawValue: choice[0]), ciphers.contains(cipher) else {
            peers[peer].counters.refusedMalformed &+= 1
            return
        }
        let keys = noise.split()
        let session = SessionKeys(
            localIndex: receiverIndex, remoteIndex: remoteIndex, createdAt: now, role: .initiator, cipher: cipher, send: keys.send,
            receive: keys.receive)
        // The other initiation in flight is void now.
        for (index, pending) in peers[peer].pending.enumerated() where index != slot { localIndices.remove(pending.localIndex) }
        peers[peer].pending.removeAll()
        peers[peer].nextRetryAt = .max
        // What it replaces stays receivable: the peer may still seal with either.
        if let current = peers[peer].sessions.current { retire(current, peer: peer) }
        if let next = peers[peer].sessions.next { retire(next, peer: peer) }
        peers[peer].sessions.next = nil
        peers[peer].sessions.current = session
        peers[peer].counters.completedAsInitiator &+= 1
        sessionsChanged = true
    }

    private func receiveCookieReply(_ message: UnsafeRawBufferPointer, from peer: Int, now: UInt64, wallNanoseconds: UInt64, send: HandshakeSend) {
        let receiverIndex = message.baseAddress!.loadBigEndianUInt32(at: 4)
        guard let slot = peers[peer].pendingIndex(of: receiverIndex) else {
            peers[peer].counters.refusedUnexpected &+= 1
            return
        }
        var cookie = [UInt8](repeating: 0, count: HandshakeWire.macBytes)
        let nonce = UnsafeRawBufferPointer(rebasing: message[16..<40])
        let sealed = UnsafeRawBufferPointer(rebasing: message[40..<72])
        let opened = peers[peer].pending[slot].mac1.withUnsafeBytes { ad in
            peers[peer].cookieKey.withUnsafeBytes { key in
                cookie.withUnsafeMutableBytes { Sodium.xopen(sealed, ad: ad, nonce: nonce, key: key, into: $0) }
            }
        }
        guard opened else {
            peers[peer].counters.refusedDecrypt &+= 1
            return
        }
        peers[peer].cookie = cookie
        peers[peer].cookieReceivedAt = now
        peers[peer].counters.cookiesReceived &+= 1
        // Send again at once with the cookie, once per initiation (the retry timer does the rest).
        if !peers[peer].pending[slot].resentWithCookie {
            peers[peer].pending[slot].resentWithCookie = true
            initiate(peer, now: now, wallNanoseconds: wallNanoseconds, send: send)
            if let last = peers[peer].pending.indices.last { peers[peer].pending[last].resentWithCookie = true }
        }
    }

    /// A lane opened a frame under `session`: if it is the answered session not yet used, the peer
    /// has it, so seal with it from now on.
    func confirm(_ peer: Int, session: SessionKeys) {
        guard peers[peer].sessions.next === session else { return }
        if let current = peers[peer].sessions.current { retire(current, peer: peer) }
        peers[peer].sessions.current = session
        peers[peer].sessions.next = nil
        peers[peer].counters.confirmedAsResponder &+= 1
        sessionsChanged = true
    }

    /// Keeps `session` receivable among the peer's previous sessions, dropping the oldest beyond the limit.
    private func retire(_ session: SessionKeys, peer: Int) {
        peers[peer].sessions.previous.insert(session, at: 0)
        while peers[peer].sessions.previous.count > PeerSessions.keptPrevious {
            localIndices.remove(peers[peer].sessions.previous.removeLast().localIndex)
        }
    }

    // MARK: Timers

    /// Runs what is due: cookie secret rotation, session expiry, retries and rekeys.
    func tick(now: UInt64, wallNanoseconds: UInt64, send: HandshakeSend) {
        if now &- cookieSecretAt >= timers.cookieSecretLifetime {
            previousCookieSecret = cookieSecret
            cookieSecret = randomBytes(32)
            cookieSecretAt = now
        }
        for peer in peers.indices {
            expireSessions(peer, now: now)
            if now >= peers[peer].nextRetryAt {
                initiate(peer, now: now, wallNanoseconds: wallNanoseconds, send: send)
                continue
            }
            guard peers[peer].pending.isEmpty, needsHandshake(peer, now: now) else { continue }
            initiate(peer, now: now, wallNanoseconds: wallNanoseconds, send: send)
        }
    }

    /// When `tick` must run next.
    func nextDeadline() -> UInt64 {
        var deadline = cookieSecretAt.saturatingAdd(timers.cookieSecretLifetime)
        for peer in peers.indices {
            deadline = min(deadline, peers[peer].nextRetryAt)
            let sessions = peers[peer].sessions
            for session in sessions.all { deadline = min(deadline, session.createdAt.saturatingAdd(timers.rejectAfter)) }
            if peers[peer].pending.isEmpty {
                if let current = sessions.current {
                    let rekey = current.role == .initiator ? timers.rekeyAfter : timers.rekeyEitherSideAfter
                    deadline = min(deadline, current.createdAt.saturatingAdd(rekey))
                } else {
                    deadline = 0  // no session and nothing in flight: initiate at once
                }
                if peers[peer].rekeyWanted { deadline = 0 }
            }
        }
        return deadline
    }

    private func needsHandshake(_ peer: Int, now: UInt64) -> Bool {
        if peers[peer].rekeyWanted { return true }
        guard let current = peers[peer].sessions.current else { return true }
        let age = now &- current.createdAt
        return age >= (current.role == .initiator ? timers.rekeyAfter : timers.rekeyEitherSideAfter)
    }

    private func expireSessions(_ peer: Int, now: UInt64) {
        var sessions = peers[peer].sessions
        var expired = 0
        func expire(_ session: inout SessionKeys?) {
            guard let held = session, now &- held.createdAt >= timers.rejectAfter else { return }
            localIndices.remove(held.localIndex)
            session = nil
            expired += 1
        }
        expire(&sessions.current)
        expire(&sessions.next)
        sessions.previous.removeAll { held in
            guard now &- held.createdAt >= timers.rejectAfter else { return false }
            localIndices.remove(held.localIndex)
            expired += 1
            return true
        }
        guard expired > 0 else { return }
        peers[peer].sessions = sessions
        peers[peer].counters.sessionsExpired &+= UInt64(expired)
        sessionsChanged = true
    }

    // MARK: Load and cookies

    private func isUnderLoad(now: UInt64) -> Bool {
        if now &- loadWindowStart >= 1_000_000_000 {
            loadWindowStart = now
            loadCount = 0
        }
        loadCount += 1
        if loadCount > timers.underLoadThreshold { underLoadUntil = now.saturatingAdd(timers.underLoadHold) }
        return now < underLoadUntil
    }

    private func cookieFor(_ source: Endpoint, secret: [UInt8]) -> [UInt8] {
        var cookie = [UInt8](repeating: 0, count: HandshakeWire.macBytes)
        let bytes = HandshakeWire.sourceBytes(source)
        secret.withUnsafeBytes { key in
            bytes.withUnsafeBytes { message in cookie.withUnsafeMutableBytes { Sodium.hmacSHA256(key: key, message: message, into: $0) } }
        }
        return cookie
    }

    private func sendCookieReply(to peer: Int, for message: UnsafeRawBufferPointer, cookie: [UInt8], send: HandshakeSend) {
        let senderIndex = message.baseAddress!.loadBigEndianUInt32(at: 4)
        let mac1Offset = HandshakeWire.mac1Offset(messageSize: message.count)
        let mac1 = UnsafeRawBufferPointer(rebasing: message[mac1Offset..<(mac1Offset + HandshakeWire.macBytes)])
        var reply = [UInt8](repeating: 0, count: HandshakeWire.cookieReplySize)
        let nonce = randomBytes(24)
        reply.withUnsafeMutableBytes { raw in
            HandshakeWire.writeEnvelope(raw.baseAddress!, type: HandshakeWire.cookieReplyType, index: senderIndex)
            raw.baseAddress!.advanced(by: 16).copyMemory(from: nonce, byteCount: 24)
            nonce.withUnsafeBytes { nonce in
                cookieKeyForUs.withUnsafeBytes { key in
                    cookie.withUnsafeBytes { plaintext in
                        Sodium.xseal(plaintext, ad: mac1, nonce: nonce, key: key, into: UnsafeMutableRawBufferPointer(rebasing: raw[40..<72]))
                    }
                }
            }
        }
        peers[peer].counters.cookiesSent &+= 1
        reply.withUnsafeBytes { send(PeerID(peer), $0) }
    }

    private func freshCookie(_ peer: Int, now: UInt64) -> [UInt8]? {
        guard let cookie = peers[peer].cookie, now &- peers[peer].cookieReceivedAt < timers.cookieLifetime else { return nil }
        return cookie
    }

    // MARK: Randomness and indices

    private func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { random.fill($0) }
        return bytes
    }

    private func jitter() -> UInt64 {
        guard timers.retryJitter > 0 else { return 0 }
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { random.fill($0) }
        return value % timers.retryJitter
    }

    /// A random index no session or initiation of this gateway uses (0 is never used).
    private func newIndex() -> UInt32 {
        while true {
            var value: UInt32 = 0
            withUnsafeMutableBytes(of: &value) { random.fill($0) }
            if value != 0, localIndices.insert(value).inserted { return value }
        }
    }
}
