/// What the handshakes and the sealing of one peer's frames did, as a snapshot carries them.
public struct PeerSecurityCounters: Sendable, Equatable {
    /// Sealing and opening, added up over the lanes.
    public var sealing = SealingCounters()
    /// The handshakes (one owner; only the lane that runs the handshake timers reports them).
    public var handshake = HandshakeCounters()

    /// Zeroed counters.
    public init() {}

    /// Adds `other`'s counts.
    public mutating func add(_ other: PeerSecurityCounters) {
        sealing.add(other.sealing)
        handshake.add(other.handshake)
    }
}

/// What the handshake owner did and refused for one peer (`maelstrom_handshake_*` metrics).
public struct HandshakeCounters: Sendable, Equatable {
    /// Initiations sent (first attempts, retries and rekeys).
    public var initiationsSent: UInt64 = 0
    /// Responses sent: initiations accepted.
    public var responsesSent: UInt64 = 0
    /// Handshakes this gateway initiated that completed.
    public var completedAsInitiator: UInt64 = 0
    /// Sessions this gateway answered that the peer then used (confirmed).
    public var confirmedAsResponder: UInt64 = 0
    /// Cookie replies sent (under load, to a message without a valid cookie).
    public var cookiesSent: UInt64 = 0
    /// Cookie replies received and accepted.
    public var cookiesReceived: UInt64 = 0
    /// Sessions dropped because they reached the age limit.
    public var sessionsExpired: UInt64 = 0

    /// Refused: wrong size or layout.
    public var refusedMalformed: UInt64 = 0
    /// Refused: mac1 wrong (not made by anyone who knows this gateway's public key).
    public var refusedMAC: UInt64 = 0
    /// Refused under load: no valid cookie (a cookie reply was sent instead).
    public var refusedNeedsCookie: UInt64 = 0
    /// Refused under load: the peer's handshake rate limit was exceeded.
    public var refusedRateLimited: UInt64 = 0
    /// Refused: did not decrypt (wrong keys, altered, or forged).
    public var refusedDecrypt: UInt64 = 0
    /// Refused: decrypted, but the initiator's static key is not this peer's.
    public var refusedWrongKey: UInt64 = 0
    /// Refused: the initiation's timestamp is not newer than the last accepted one (a replay).
    public var refusedReplay: UInt64 = 0
    /// Refused: a second initiation within the flood interval.
    public var refusedFlood: UInt64 = 0
    /// Refused: a response or cookie reply for no initiation in flight.
    public var refusedUnexpected: UInt64 = 0

    /// Zeroed counters.
    public init() {}

    /// Adds `other`'s counts.
    public mutating func add(_ other: HandshakeCounters) {
        initiationsSent &+= other.initiationsSent
        responsesSent &+= other.responsesSent
        completedAsInitiator &+= other.completedAsInitiator
        confirmedAsResponder &+= other.confirmedAsResponder
        cookiesSent &+= other.cookiesSent
        cookiesReceived &+= other.cookiesReceived
        sessionsExpired &+= other.sessionsExpired
        refusedMalformed &+= other.refusedMalformed
        refusedMAC &+= other.refusedMAC
        refusedNeedsCookie &+= other.refusedNeedsCookie
        refusedRateLimited &+= other.refusedRateLimited
        refusedDecrypt &+= other.refusedDecrypt
        refusedWrongKey &+= other.refusedWrongKey
        refusedReplay &+= other.refusedReplay
        refusedFlood &+= other.refusedFlood
        refusedUnexpected &+= other.refusedUnexpected
    }

    /// All refused handshake messages.
    public var refused: UInt64 {
        refusedMalformed &+ refusedMAC &+ refusedNeedsCookie &+ refusedRateLimited &+ refusedDecrypt &+ refusedWrongKey
            &+ refusedReplay &+ refusedFlood &+ refusedUnexpected
    }
}

/// What one lane's sealing and opening did for one peer (`maelstrom_sealed_*`, `maelstrom_refused_*`).
public struct SealingCounters: Sendable, Equatable {
    /// Frames sealed and sent.
    public var sealed: UInt64 = 0
    /// Frames opened: authenticated and not replayed.
    public var opened: UInt64 = 0
    /// Frames not sent: no session with the peer yet (or it expired).
    public var unsentNoSession: UInt64 = 0
    /// Refused: a plaintext frame where sealed ones are required.
    public var refusedPlaintext: UInt64 = 0
    /// Refused: too short, unknown version or type, lane out of range.
    public var refusedMalformed: UInt64 = 0
    /// Refused: names a session this gateway does not have (expired, or from before a restart).
    public var refusedUnknownSession: UInt64 = 0
    /// Refused: the session is older than the age limit.
    public var refusedExpiredSession: UInt64 = 0
    /// Refused: the tag did not verify (forged, altered, or sealed with another key).
    public var refusedAuthentication: UInt64 = 0
    /// Refused: its counter was seen before or is behind the replay window.
    public var refusedReplay: UInt64 = 0
    /// Refused: a handshake message whose mac1 is wrong (checked by the lane, before any lock).
    public var refusedHandshakeMAC: UInt64 = 0

    /// Zeroed counters.
    public init() {}

    /// Adds `other`'s counts.
    public mutating func add(_ other: SealingCounters) {
        sealed &+= other.sealed
        opened &+= other.opened
        unsentNoSession &+= other.unsentNoSession
        refusedPlaintext &+= other.refusedPlaintext
        refusedMalformed &+= other.refusedMalformed
        refusedUnknownSession &+= other.refusedUnknownSession
        refusedExpiredSession &+= other.refusedExpiredSession
        refusedAuthentication &+= other.refusedAuthentication
        refusedReplay &+= other.refusedReplay
        refusedHandshakeMAC &+= other.refusedHandshakeMAC
    }

    /// All refused datagrams.
    public var refused: UInt64 {
        refusedPlaintext &+ refusedMalformed &+ refusedUnknownSession &+ refusedExpiredSession &+ refusedAuthentication
            &+ refusedReplay &+ refusedHandshakeMAC
    }
}
