import MaelstromCore

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

    /// Creates a peer; the loader checks the cross-peer rules, not this initialiser.
    public init(name: String, endpoint: Endpoint, subnets: [IPPrefix], lanes: Int = LaneID.maxLanes) {
        self.name = name
        self.endpoint = endpoint
        self.subnets = subnets
        self.lanes = lanes
    }
}
