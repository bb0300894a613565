import MaelstromCore
/// An initiation sent and not yet answered.
struct PendingInitiation {
    let localIndex: UInt32
    let noise: NoiseInitiator
    let sentAt: UInt64
    /// The mac1 it carried: a cookie reply to it must be sealed over exactly this.
    let mac1: [UInt8]
    /// Whether a cookie reply has already made it be sent again.
    var resentWithCookie = false
}

/// Everything the handshake owner keeps for one peer: its keys, the initiations in flight, the
/// replay and flood state of its initiations, its cookie, its sessions and its counters.
struct PeerHandshake {
    let publicKey: [UInt8]
    /// The pre-shared key, or 32 zero bytes without one (as Noise_IKpsk2 prescribes).
    let psk: [UInt8]
    /// Keys for messages to this peer (mac1) and from it (its cookie replies).
    let mac1Key: [UInt8]
    let cookieKey: [UInt8]

    /// Newest last; two at most, so a response that crosses a retry still completes.
    var pending: [PendingInitiation] = []
    var nextRetryAt: UInt64 = .max
    var lastInitiationAt: UInt64? = nil
    /// The newest initiation timestamp accepted from this peer, and when.
    var lastTimestamp = [UInt8](repeating: 0, count: 12)
    var lastAcceptedInitiationAt: UInt64? = nil
    /// The cookie the peer last sent us, and when.
    var cookie: [UInt8]? = nil
    var cookieReceivedAt: UInt64 = 0
    var sessions = PeerSessions()
    /// A lane sealed `rekeyAfterMessages` frames: replace the session.
    var rekeyWanted = false
    /// Under-load token bucket, in thousandths of a token.
    var tokens: UInt64 = 0
    var tokensAt: UInt64 = 0
    var counters = HandshakeCounters()

    init(publicKey: [UInt8], psk: [UInt8]?) {
        self.publicKey = publicKey
        self.psk = psk ?? [UInt8](repeating: 0, count: 32)
        mac1Key = HandshakeWire.mac1Key(for: publicKey)
        cookieKey = HandshakeWire.cookieKey(for: publicKey)
    }

    /// The pending initiation with this local index.
    func pendingIndex(of localIndex: UInt32) -> Int? { pending.firstIndex { $0.localIndex == localIndex } }

    /// Takes one token of the under-load rate limit; false when none is left.
    mutating func takeToken(now: UInt64, timers: TunnelTimers) -> Bool {
        let capacity = timers.handshakeBurst * 1000
        let elapsed = now >= tokensAt ? now - tokensAt : 0
        let refill = elapsed / 1_000_000 * timers.handshakesPerSecond  // per millisecond, in thousandths
        tokens = min(capacity, tokens &+ refill)
        tokensAt = now
        guard tokens >= 1000 else { return false }
        tokens -= 1000
        return true
    }

    /// Every session's local index, for the index registry.
    var sessionIndices: [UInt32] {
        sessions.all.map(\.localIndex)
    }
}
