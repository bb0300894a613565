import MaelstromConfig
import Testing

/// `flow-control`, `split-ports`, `split-exclude` and the `split` section.
@Suite struct SplitConfigTests {
    private func split(_ lines: String, top: String = "") throws -> GatewayConfig {
        try GatewayConfig.parse(yaml: minimal("subnets: [10.2.0.0/24]\n", "subnets: [10.2.0.0/24]\n" + lines) + top, file: "test.yaml").config
    }

    @Test func endToEndIsTheDefault() throws {
        let config = try GatewayConfig.parse(yaml: minimalYAML, file: "test.yaml").config
        #expect(config.peers[0].flowControl == .endToEnd)
        #expect(config.splitPeers.isEmpty)
        #expect(config.split == SplitSettings())
    }

    @Test func splitWithPortsAndExclusions() throws {
        let config = try split("    flow-control: split\n    split-ports: [80, 443, 5000-5999]\n    split-exclude: [5432]\n")
        let ports = try #require(config.peers[0].flowControl.splitPorts)
        #expect(ports.include.map(\.description) == ["80", "443", "5000-5999"])
        #expect(ports.contains(443) && ports.contains(5001) && !ports.contains(22))
        #expect(!SplitPorts(include: [], exclude: [PortRange(22, 22)!]).contains(22))
        #expect(SplitPorts().contains(22))
        #expect(config.splitPeers.map(\.name) == ["site-b"])
    }

    @Test func splitSectionIsRead() throws {
        let config = try split(
            "    flow-control: split\n",
            top: "split:\n  listen-port: 9000\n  max-connections: 64\n  buffer: 128KiB\n  wan-buffer: 16MiB\n  wan-congestion: bbr\n  keepalive: 30s\n  idle-timeout: 600s\n")
        #expect(config.split.listenPort == 9000)
        #expect(config.split.maxConnections == 64)
        #expect(config.split.buffer == 128 << 10)
        #expect(config.split.wanBuffer == 16 << 20)
        #expect(config.split.wanCongestion == "bbr")
        #expect(config.split.keepaliveSeconds == 30)
        #expect(config.split.idleTimeout == 600_000_000_000)
        #expect(config.split.memoryBound == 64 * UInt64(2 * (128 << 10) + (16 << 20)))
    }

    @Test func effectiveConfigReadsBackTheSame() throws {
        let config = try split("    flow-control: split\n    split-ports: [80, 5000-5999]\n", top: "split:\n  max-connections: 10\n")
        let again = try GatewayConfig.parse(yaml: config.effectiveYAML(), file: "effective.yaml").config
        #expect(again.peers[0].flowControl == config.peers[0].flowControl)
        #expect(again.split == config.split)
    }

    static let errors: [(yaml: String, top: String, key: String, says: String)] = [
        ("    flow-control: splt\n", "", "peers[0].flow-control", "unknown flow-control 'splt' (did you mean 'split'?)"),
        ("    split-ports: [80]\n", "", "peers[0].split-ports", "applies only with flow-control: split"),
        ("    flow-control: split\n    split-ports: [0]\n", "", "peers[0].split-ports[0]", "is not a port"),
        ("    flow-control: split\n    split-ports: [90-80]\n", "", "peers[0].split-ports[0]", "LOW <= HIGH"),
        ("    flow-control: split\n    split-exclude: []\n", "", "peers[0].split-exclude", "at least one port"),
        ("    flow-control: split\n", "split:\n  wan-congestion: Cubic!\n", "split.wan-congestion", "kernel congestion control name"),
        ("    flow-control: split\n", "split:\n  listen-port: 65535\n", "split.listen-port", "must be"),
        ("    flow-control: split\n", "split:\n  route-table: 254\n", "split.route-table", "kernel's own"),
        ("    flow-control: split\n", "split:\n  max-conections: 5\n", "split.max-conections", "did you mean 'max-connections'"),
    ]

    @Test(arguments: 0..<errors.count) func errorsNameTheKey(_ index: Int) throws {
        let (lines, top, key, says) = Self.errors[index]
        let error = try #require(parseError(minimal("subnets: [10.2.0.0/24]\n", "subnets: [10.2.0.0/24]\n" + lines) + top))
        #expect(error.key == key, "\(error)")
        #expect(error.description.contains(says), "\(error)")
    }

    @Test func ipv6SubnetsCannotBeSplit() throws {
        let yaml = minimal("subnets: [10.2.0.0/24]\n", "subnets: [10.2.0.0/24, \"fd00:2::/64\"]\n    flow-control: split\n")
        let error = try #require(parseError(yaml))
        #expect(error.code == .family)
        #expect(error.key == "peers[0].subnets[1]")
    }
}
