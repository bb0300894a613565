import MaelstromCore
import MaelstromSecurity

/// A peer as read, with the locations the cross-peer rules need for their errors.
struct PeerEntry {
    let config: PeerConfig
    let name: Location
    let endpoint: Location
    let subnets: [Location]
    /// Where `public-key` is; nil when it is absent (only under `security: none`).
    let publicKey: Location?

    static let keys = ["name", "endpoint", "subnets", "lanes", "public-key", "preshared-key-file"] + SplitSection.peerKeys

    init(_ node: ConfigNode, security: SecurityMode, files: KeyFileReader) throws(ConfigError) {
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
        let keyNode = mapping.optional("public-key")
        let presharedNode = mapping.optional("preshared-key-file")
        var publicKey: PublicKey? = nil
        var preshared: (bytes: [UInt8], path: String)? = nil
        switch security {
        case .none:
            // Keys under plaintext would suggest a protection that is not there.
            for (key, node) in [("public-key", keyNode), ("preshared-key-file", presharedNode)] {
                if let node {
                    throw node.error(
                        .badValue, "\(key) is not used with security: none (frames are not sealed); remove it, or remove security: none to seal them")
                }
            }
        case .noise:
            guard let keyNode else {
                throw mapping.location.child("public-key").error(
                    .missingKey,
                    "missing required key 'public-key': the peer's public key, which `maelstromd check` prints on the peer")
            }
            publicKey = try SecuritySection.publicKey(keyNode)
            if let presharedNode { preshared = try files.load(presharedNode, kind: .presharedKey) }
        }
        let flowControl = try SplitSection.flowControl(mapping, subnets: Array(zip(subnets, subnetNodes.map(\.location))))
        var config = PeerConfig(
            name: name, endpoint: endpoint, subnets: subnets, lanes: lanes, publicKey: publicKey,
            // KeyFileReader has checked the length.
            presharedKey: preshared.map { PresharedKey(bytes: $0.bytes)! }, presharedKeyFile: preshared?.path)
        config.flowControl = flowControl
        self.config = config
        self.name = nameNode.location
        self.endpoint = endpointNode.location
        self.subnets = subnetNodes.map(\.location)
        self.publicKey = keyNode?.location
    }
}

/// Rules that span peers: each packet and each datagram must map to exactly one peer.
enum PeerRules {
    /// `ownKey` is the gateway's private key under `security: noise`.
    static func check(_ peers: [PeerEntry], listen: Endpoint, manageRoutes: Bool, ownKey: PrivateKey?) throws(ConfigError) {
        let ownPublicKey = ownKey?.publicKey
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
            if let key = peer.config.publicKey, let location = peer.publicKey {
                // A handshake names the peer by its key: two peers with one key could not be told apart.
                if let earlier = peers[..<index].firstIndex(where: { $0.config.publicKey == key }), let other = peers[earlier].publicKey {
                    throw location.error(.duplicate, "this public key is already used by \(describe(other)); each peer has its own key")
                }
                if key == ownPublicKey {
                    throw location.error(
                        .key, "this is this gateway's own public key; give the peer's key, which `maelstromd check` prints on the peer")
                }
                if let ownKey, key.bytes == ownKey.bytes {
                    throw location.error(
                        .key,
                        "this is this gateway's private key, not a peer's public key: make a new one with `maelstromd genkey`, since this one has been written into a config")
                }
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
