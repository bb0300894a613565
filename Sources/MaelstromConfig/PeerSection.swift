import MaelstromCore

/// A peer as read, with the locations the cross-peer rules need for their errors.
struct PeerEntry {
    let config: PeerConfig
    let name: Location
    let endpoint: Location
    let subnets: [Location]

    static let keys = ["name", "endpoint", "subnets", "lanes"]

    init(_ node: ConfigNode) throws(ConfigError) {
        let mapping = try node.mapping(keys: Self.keys)
        let nameNode = try mapping.required("name")
        let name = try nameNode.string("a peer name")
        // Names end up in metrics labels and log lines, so keep them to a shell- and label-safe set.
        guard name.count <= 63, name.first.map({ $0.isASCII && ($0.isLetter || $0.isNumber) }) == true,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
        else {
            throw nameNode.error(.badValue, "peer name '\(name)' must be 1-63 characters of A-Z a-z 0-9 _ . - starting with a letter or digit")
        }
        let endpointNode = try mapping.required("endpoint")
        let endpoint = try endpointNode.endpoint()
        // Datagrams are accepted only from exactly this endpoint, and none comes from 0.0.0.0 or ::.
        guard endpoint.address != .v4(0) && endpoint.address != .v6(high: 0, low: 0) else {
            throw endpointNode.error(.badValue, "\(endpoint) is not a peer's address; give the peer's public address")
        }
        let subnetNodes = try mapping.required("subnets").list()
        guard !subnetNodes.isEmpty else { throw mapping.location(of: "subnets").error(.badValue, "a peer needs at least one subnet") }
        var subnets: [IPPrefix] = []
        for subnetNode in subnetNodes { subnets.append(try subnetNode.prefix()) }
        let lanes = try mapping.optional("lanes")?.int(in: 1...LaneID.maxLanes) ?? LaneID.maxLanes
        config = PeerConfig(name: name, endpoint: endpoint, subnets: subnets, lanes: lanes)
        self.name = nameNode.location
        self.endpoint = endpointNode.location
        self.subnets = subnetNodes.map(\.location)
    }
}

/// Rules that span peers: each packet and each datagram must map to exactly one peer.
enum PeerRules {
    static func check(_ peers: [PeerEntry], listen: Endpoint, manageRoutes: Bool) throws(ConfigError) {
        for (index, peer) in peers.enumerated() {
            let endpoint = peer.config.endpoint
            if let earlier = peers[..<index].firstIndex(where: { $0.config.name == peer.config.name }) {
                throw peer.name.error(.duplicate, "peer name '\(peer.config.name)' is already used by \(describe(peers[earlier].name))")
            }
            guard endpoint.address.isIPv4 == listen.address.isIPv4 else {
                throw peer.endpoint.error(
                    .family, "\(endpoint) is \(family(endpoint)) but listen \(listen) is \(family(listen)); one UDP socket reaches one family")
            }
            // Incoming datagrams are matched to peers by source endpoint.
            if let earlier = peers[..<index].firstIndex(where: { $0.config.endpoint == endpoint }) {
                throw peer.endpoint.error(.duplicate, "endpoint \(endpoint) is already used by \(describe(peers[earlier].endpoint))")
            }
        }
        let subnets = peers.flatMap { peer in zip(peer.config.subnets, peer.subnets).map { (peer.config.name, $0, $1) } }
        for (index, (owner, prefix, location)) in subnets.enumerated() {
            if let (otherOwner, other, otherLocation) = subnets[..<index].first(where: { $0.1.overlaps(prefix) }) {
                let whose = otherOwner == owner ? "" : " of peer '\(otherOwner)'"
                throw location.error(.overlap, "\(prefix) overlaps \(other)\(whose) (\(describe(otherLocation))); a packet must have one destination")
            }
        }
        guard manageRoutes else { return }
        for peer in peers {
            let address = peer.config.endpoint.address
            if let (_, prefix, location) = subnets.first(where: { $0.1.contains(address) }) {
                throw peer.endpoint.error(
                    .overlap,
                    "\(address) lies inside \(prefix) (\(describe(location))), which manage-routes sends into the tunnel: the tunnel's own datagrams would loop")
            }
        }
    }

    private static func describe(_ location: Location) -> String { "\(location.key), line \(location.line)" }

    private static func family(_ endpoint: Endpoint) -> String { endpoint.address.isIPv4 ? "IPv4" : "IPv6" }
}
