import MaelstromConfig
import MaelstromCore
import MaelstromTun

/// The kernel state that steers split connections into the proxy: an nftables table whose tproxy
/// rules divert new TCP connections to the listeners and mark the packets of the proxy's own
/// sockets, and a policy rule with a routing table that delivers marked packets locally.
public struct SplitRules: Sendable, Equatable {
    /// One split peer: its subnets and the destination ports split.
    public struct Peer: Sendable, Equatable {
        public let subnets: [IPPrefix]
        public let ports: SplitPorts
        public init(subnets: [IPPrefix], ports: SplitPorts) {
            self.subnets = subnets
            self.ports = ports
        }
    }

    public let tunName: String
    public let peers: [Peer]
    public let settings: SplitSettings

    /// The rules for `peers` (IPv4 subnets; the config refuses others) behind the TUN device `tunName`.
    public init(tunName: String, peers: [Peer], settings: SplitSettings) {
        self.tunName = tunName
        self.peers = peers
        self.settings = settings
    }

    /// The split peers of a config, or nil when none is split.
    public init?(config: GatewayConfig) {
        let peers = config.splitPeers.compactMap { peer in peer.flowControl.splitPorts.map { Peer(subnets: peer.subnets, ports: $0) } }
        guard !peers.isEmpty else { return nil }
        self.init(tunName: config.tunName, peers: peers, settings: config.split)
    }

    /// The nftables table's name: one per TUN device, so two daemons on one host do not collide.
    public var tableName: String { "maelstrom_split_" + tunName.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined() }

    private static let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"]

    /// The table, as `nft -f` reads it.
    public var nftablesText: String {
        let mark = "0x" + String(settings.mark, radix: 16)
        var lines = [
            "table ip \(tableName) {",
            "  chain prerouting {",
            "    type filter hook prerouting priority mangle; policy accept;",
            // Packets of connections the proxy already holds (either leg, any state) go to it.
            "    meta l4proto tcp socket transparent 1 meta mark set \(mark) accept",
        ]
        for peer in peers {
            let subnets = "{ " + peer.subnets.map(\.description).joined(separator: ", ") + " }"
            var ports = "meta l4proto tcp"
            if !peer.ports.include.isEmpty { ports += " tcp dport { " + peer.ports.include.map(\.description).joined(separator: ", ") + " }" }
            if !peer.ports.exclude.isEmpty { ports += " tcp dport != { " + peer.ports.exclude.map(\.description).joined(separator: ", ") + " }" }
            lines.append("    iifname != \"\(tunName)\" ip daddr \(subnets) \(ports) meta mark set \(mark) tproxy to :\(settings.listenPort)")
            lines.append("    iifname \"\(tunName)\" ip saddr \(subnets) \(ports) meta mark set \(mark) tproxy to :\(settings.listenPort + 1)")
        }
        lines += ["  }", "}", ""]
        return lines.joined(separator: "\n")
    }

    private var ruleArguments: [String] { ["fwmark", String(settings.mark), "lookup", String(settings.routeTable)] }

    /// Installs the table, the policy rule and the local route, after removing any left by a
    /// daemon that did not exit cleanly; on failure removes what it installed and throws.
    public func install() throws(IOError) {
        remove()
        do {
            try SystemCommand.run(Self.nft, ["-f", "-"], input: nftablesText)
            try IPCommand.run(["rule", "add"] + ruleArguments)
            try IPCommand.run(["route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", String(settings.routeTable)])
        } catch {
            remove()
            throw error
        }
    }

    /// Removes the table, rule and route; what is absent is skipped. Returns what failed.
    @discardableResult
    public func remove() -> [IOError] {
        var failures: [IOError] = []
        do { try SystemCommand.run(Self.nft, ["list", "table", "ip", tableName]) } catch { return cleanRouting() }
        do { try SystemCommand.run(Self.nft, ["delete", "table", "ip", tableName]) } catch { failures.append(error) }
        return failures + cleanRouting()
    }

    private func cleanRouting() -> [IOError] {
        // `ip rule del` removes one match per call; a crashed daemon restarted twice may have left two.
        for _ in 0..<8 {
            do { try IPCommand.run(["rule", "del"] + ruleArguments) } catch { break }
        }
        do { try IPCommand.run(["route", "flush", "table", String(settings.routeTable)]) } catch {}
        return []
    }
}
