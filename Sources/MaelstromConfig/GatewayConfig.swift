import MaelstromCore
import MaelstromSecurity

/// A validated gateway configuration; only `parse(yaml:file:)` and `load(path:)` make one, so
/// every instance has passed all the rules in docs/CONFIG.md.
public struct GatewayConfig: Sendable, Equatable {
    /// Name of the TUN device to create.
    public let tunName: String
    /// MTU of the TUN device: the largest inner IP packet carried.
    public let tunMTU: Int
    /// Address to assign to the TUN device, if the daemon should assign one.
    public let tunAddress: InterfaceAddress?
    /// Whether to install routes to the peers' subnets through the TUN and remove them on exit.
    public let manageRoutes: Bool
    /// Whether to clamp the MSS of forwarded TCP SYNs to `clampedMSS`.
    public let clampMSS: Bool
    /// Whether to ask the kernel for TUN offloads (virtio-net header, TSO, USO, coalesced writes).
    public let tunOffload: Bool
    /// The local UDP endpoint to bind.
    public let listen: Endpoint
    /// MTU of the WAN path the UDP datagrams cross.
    public let wanMTU: Int
    /// The remote gateways, at least one.
    public let peers: [PeerConfig]
    /// Encoder parameters; `maxPacketSize` equals `tunMTU`.
    public let fec: FECParameters
    /// Fixed or adaptive FEC (`fec.mode` and the policy's bounds); adaptive starts with `fec`.
    public var adaptation: AdaptationSettings = AdaptationSettings(mode: .adaptive)
    /// The split proxy's settings (`split`); used only when some peer has `flow-control: split`.
    public var split: SplitSettings = SplitSettings()
    /// Decoder parameters for packets from each peer.
    public let decoder: DecoderParameters
    /// Time between keepalives sent to each peer, in nanoseconds.
    public let keepaliveInterval: UInt64
    /// Silence after which a peer counts as down, in nanoseconds; longer than `keepaliveInterval`.
    public let peerTimeout: UInt64
    /// How many lanes (packet threads, each with its TUN queue and UDP socket) to run.
    public let lanes: LaneCount
    /// How long a lane keeps polling after it moved packets before it sleeps, in nanoseconds (0: never).
    public let busyPoll: UInt64
    /// Memory the codec state of all peers may take, in bytes (`limits.memory`); checked at load.
    public let memoryLimit: UInt64
    /// Where to serve Prometheus metrics at `/metrics`; nil serves none.
    public let metricsListen: Endpoint?
    /// The lowest log level emitted.
    public let logLevel: LogLevel
    /// Whether and how frames are sealed (`security`, `private-key-file`).
    public let security: TunnelSecurity
    /// Who the daemon runs as once its devices, routes and sockets are set up (`user`).
    public let runAs: RunAsUser

    /// The peers whose TCP is split at the gateways.
    public var splitPeers: [PeerConfig] { peers.filter { $0.flowControl.splitPorts != nil } }

    /// The MSS to clamp TCP SYNs to, so that segments fill but never exceed the TUN MTU:
    /// MTU minus 40 (IPv4 + TCP headers) and minus 60 (IPv6 + TCP headers).
    public var clampedMSS: (ipv4: Int, ipv6: Int) { (tunMTU - 40, tunMTU - 60) }

    /// This gateway's public key, derived from its private key: what its peers list as its
    /// `public-key`. Nil under `security: none`.
    public var publicKey: PublicKey? {
        switch security {
        case .none: nil
        case .noise(let privateKey, _): privateKey.publicKey
        }
    }
}

/// The `security` setting: sealed frames under a Noise_IKpsk2 session with each peer (the
/// default), or plaintext when the operator asks for it by name.
public enum TunnelSecurity: Sendable, Equatable {
    /// `security: none`: frames cross the WAN in plaintext; anyone on the path can read, forge and replay them.
    case none
    /// Every frame sealed and authenticated; the gateway's static key, read from `file`.
    case noise(privateKey: PrivateKey, file: String)
}

/// The `user` setting: the account the daemon switches to after setup.
public enum RunAsUser: Sendable, Equatable {
    /// Keep the account it was started as (`user: root`, or no `nobody` account exists).
    case unchanged
    /// Switch to this account (and its groups), dropping every capability.
    case named(String)
}

/// The `lanes` setting: a number, or one lane per available core.
public enum LaneCount: Sendable, Equatable, CustomStringConvertible {
    /// One lane per core this process may run on (at most `LaneID.maxLanes`).
    case auto
    /// Exactly this many lanes.
    case fixed(Int)

    /// The lane count on a machine with `cores` usable cores.
    public func resolved(cores: Int) -> Int {
        switch self {
        case .auto: min(max(1, cores), LaneID.maxLanes)
        case .fixed(let count): count
        }
    }

    /// `auto` or the number, as the file writes it.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let count): "\(count)"
        }
    }
}
