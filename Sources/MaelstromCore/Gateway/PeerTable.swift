/// Finds the peer for a destination address (longest prefix) and for a source endpoint.
///
/// Peers have a handful of subnets each, so a linear scan of prefixes sorted longest first is
/// as fast as a trie here, allocates nothing and is easy to check.
public struct PeerTable: Sendable {
    private struct Route: Sendable {
        var prefix: IPPrefix
        var peer: PeerID
    }

    private let routes: [Route]
    private let endpoints: [Endpoint]

    /// Builds the table; subnets must not overlap (the config loader checks).
    public init(peers: [PeerSettings]) {
        var routes: [Route] = []
        for (index, peer) in peers.enumerated() {
            for prefix in peer.subnets { routes.append(Route(prefix: prefix, peer: PeerID(index))) }
        }
        self.routes = routes.sorted { $0.prefix.length > $1.prefix.length }
        self.endpoints = peers.map(\.endpoint)
    }

    /// The peer whose subnets hold `destination` most specifically, if any.
    public func peer(for destination: IPAddress) -> PeerID? {
        routes.withUnsafeBufferPointer { routes in
            for route in routes where route.prefix.contains(destination) { return route.peer }
            return nil
        }
    }

    /// The peer configured with exactly this endpoint, if any.
    public func peer(at endpoint: Endpoint) -> PeerID? {
        endpoints.withUnsafeBufferPointer { endpoints in
            for index in 0..<endpoints.count where endpoints[index] == endpoint { return PeerID(index) }
            return nil
        }
    }
}
