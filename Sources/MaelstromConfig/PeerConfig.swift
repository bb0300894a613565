import MaelstromCore
import MaelstromSecurity

/// One remote gateway: where its datagrams come from and which networks sit behind it.
public struct PeerConfig: Sendable, Equatable {
    /// Unique name, used in logs and metrics labels.
    public let name: String
    /// The peer's UDP endpoint, of the same IP family as `GatewayConfig.listen`.
    public let endpoint: Endpoint
    /// Networks behind the peer; no two subnets of any peers overlap, so each packet has one destination.
    public let subnets: [IPPrefix]
    /// The most lanes the peer runs: one decoder per peer lane is kept, frames of lanes beyond are refused.
    public let lanes: Int
    /// The peer's static public key (`public-key`); nil only under `security: none`.
    public let publicKey: PublicKey?
    /// The key shared with the peer (`preshared-key-file`), if any.
    public let presharedKey: PresharedKey?
    /// The absolute path `presharedKey` was read from: the effective config names the file, never the key.
    public let presharedKeyFile: String?
    /// Whether TCP to this peer's subnets is carried end to end or split at the gateways (`flow-control`).
    public var flowControl: FlowControl = .endToEnd

    /// Creates a peer; the loader checks the cross-peer rules, not this initialiser.
    public init(
        name: String, endpoint: Endpoint, subnets: [IPPrefix], lanes: Int = LaneID.maxLanes,
        publicKey: PublicKey? = nil, presharedKey: PresharedKey? = nil, presharedKeyFile: String? = nil
    ) {
        self.name = name
        self.endpoint = endpoint
        self.subnets = subnets
        self.lanes = lanes
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.presharedKeyFile = presharedKeyFile
    }
}
