/// One peer gateway: where it is and which networks lie behind it.
public struct PeerSettings: Sendable, Equatable {
    /// A name for logs and metrics.
    public var name: String
    /// Its UDP endpoint; datagrams are accepted only from exactly this address and port.
    public var endpoint: Endpoint
    /// The networks behind it: packets to these go to this peer.
    public var subnets: [IPPrefix]
    /// The most lanes it runs; frames of its lanes beyond are refused (each gets a decoder).
    public var lanes: Int

    /// Creates peer settings.
    public init(name: String, endpoint: Endpoint, subnets: [IPPrefix], lanes: Int = LaneID.maxLanes) {
        self.name = name
        self.endpoint = endpoint
        self.subnets = subnets
        self.lanes = lanes
    }
}

/// Everything the gateway logic needs to run; built from the config file by the daemon.
public struct GatewaySettings: Sendable, Equatable {
    /// The peers.
    public var peers: [PeerSettings]
    /// The code each encoder uses (its `maxPacketSize` is the TUN MTU).
    public var fec: FECParameters
    /// Each decoder's window and hold time.
    public var decoder: DecoderParameters
    /// Time between keepalives to each peer, in nanoseconds.
    public var keepaliveIntervalNanoseconds: UInt64
    /// Silence after which a peer counts as down, in nanoseconds.
    public var peerTimeoutNanoseconds: UInt64
    /// Whether to lower the MSS option of TCP SYNs read from the TUN to what fits the TUN MTU.
    public var clampMSS: Bool
    /// Whether frames go out sealed (by the lane's security layer) or in plaintext.
    public var framing: FrameProtection
    /// Fixed or adaptive FEC; in adaptive mode `fec` is the starting code and the bound of the ladder.
    public var adaptation: AdaptationSettings
    /// Whether each loss report's judgement becomes an event (`GatewayEvent.reportJudged`): a few
    /// a second per lane and peer, for a debug log of why the adaptive policy kept its code.
    public var recordsJudgements: Bool

    /// Creates settings.
    public init(
        peers: [PeerSettings], fec: FECParameters, decoder: DecoderParameters,
        keepaliveIntervalNanoseconds: UInt64 = 1_000_000_000, peerTimeoutNanoseconds: UInt64 = 3_000_000_000,
        clampMSS: Bool = true, framing: FrameProtection = .plaintext, adaptation: AdaptationSettings = AdaptationSettings(),
        recordsJudgements: Bool = false
    ) {
        self.adaptation = adaptation
        self.recordsJudgements = recordsJudgements
        self.peers = peers
        self.fec = fec
        self.decoder = decoder
        self.keepaliveIntervalNanoseconds = keepaliveIntervalNanoseconds
        self.peerTimeoutNanoseconds = peerTimeoutNanoseconds
        self.clampMSS = clampMSS
        self.framing = framing
    }

    /// The TUN MTU, which is the largest packet the encoders take.
    public var tunMTU: Int { fec.maxPacketSize }
}
