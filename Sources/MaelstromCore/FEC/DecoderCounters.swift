/// What a decoder has seen and done since it started.
public struct DecoderCounters: Sendable, Equatable {
    /// Data frames whose packet was delivered as it arrived.
    public var received: UInt64 = 0
    /// Packets rebuilt from repairs and delivered.
    public var rebuilt: UInt64 = 0
    /// Packets given up: missing when they left the window or outlived the hold time.
    public var unrecoverable: UInt64 = 0
    /// Data frames for a packet already delivered (sent twice, or rebuilt before it came).
    public var duplicates: UInt64 = 0
    /// Data frames that came after their sequence number had left the window.
    public var late: UInt64 = 0
    /// Datagrams that were not valid frames, or frames that contradict themselves.
    public var malformed: UInt64 = 0
    /// Repair frames received.
    public var repairsReceived: UInt64 = 0
    /// Repairs that arrived when all their members were already there.
    public var repairsUnneeded: UInt64 = 0
    /// Repairs whose members had already left the window.
    public var repairsLate: UInt64 = 0
    /// Repairs that could not be kept: no room, or a copy of one already waiting.
    public var repairsDropped: UInt64 = 0
    /// Times the decoder switched to a new sender stream (a restart of the sender's encoder).
    public var streamRestarts: UInt64 = 0
    /// Frames of a stream the decoder has left, arriving after the switch; dropped.
    public var staleStreamFrames: UInt64 = 0
    /// Frames of a stream not (yet) confirmed that could not be held for it; dropped.
    public var unconfirmedStreamFrames: UInt64 = 0
    /// Frames far beyond the window that nothing confirmed (not the sender's keepalive, not enough
    /// frames agreeing): dropped, the window left where it was.
    public var farJumpsRefused: UInt64 = 0
    /// Keepalives naming another stream than the current one that were not fresh: ignored.
    public var staleKeepalives: UInt64 = 0
    /// Keepalive frames passed to the decoder (they carry no packet).
    public var keepalives: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Adds `other`'s counts to these (decoders of several lanes of one peer).
    public mutating func add(_ other: DecoderCounters) {
        received &+= other.received
        rebuilt &+= other.rebuilt
        unrecoverable &+= other.unrecoverable
        duplicates &+= other.duplicates
        late &+= other.late
        malformed &+= other.malformed
        repairsReceived &+= other.repairsReceived
        repairsUnneeded &+= other.repairsUnneeded
        repairsLate &+= other.repairsLate
        repairsDropped &+= other.repairsDropped
        streamRestarts &+= other.streamRestarts
        staleStreamFrames &+= other.staleStreamFrames
        unconfirmedStreamFrames &+= other.unconfirmedStreamFrames
        farJumpsRefused &+= other.farJumpsRefused
        staleKeepalives &+= other.staleKeepalives
        keepalives &+= other.keepalives
    }
}
