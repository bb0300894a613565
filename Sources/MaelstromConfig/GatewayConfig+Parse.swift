import Foundation
import Yams
import MaelstromCore
import MaelstromSecurity

extension GatewayConfig {
    /// The keys each mapping accepts; any other key is refused, since a typo must not silently become a default.
    enum Keys {
        static let top = [
            "tun", "listen", "wan-mtu", "lanes", "busy-poll", "security", "private-key-file", "user", "peers", "fec", "keepalive",
            "decoder", "limits", "metrics", "log", "split",
        ]
        static let tun = ["name", "mtu", "address", "manage-routes", "clamp-mss", "offload"]
        static let keepalive = ["interval", "peer-timeout"]
        static let metrics = ["listen"]
        static let log = ["level"]
    }

    /// Defaults of the optional keys that are not derived from others.
    enum Defaults {
        static let keepaliveInterval: UInt64 = 1_000_000_000
        static let peerTimeout: UInt64 = 3_000_000_000
        static let logLevel = LogLevel.info
        static let busyPoll: UInt64 = 0
    }

    /// Parses and validates YAML text, reading the key files it names; `file` labels errors and
    /// warnings, and relative key file paths resolve against its directory (against the working
    /// directory when `file` is `-` or under `/dev`, i.e. the config came from standard input).
    public static func parse(yaml: String, file: String) throws(ConfigError) -> (config: GatewayConfig, warnings: [ConfigWarning]) {
        let top = try YAMLSource.root(yaml: yaml, file: file).mapping(keys: Keys.top)
        var warnings: [ConfigWarning] = []

        let tun = try top.required("tun").mapping(keys: Keys.tun)
        let tunName = try interfaceName(tun.required("name"))
        let tunMTUNode = try tun.required("mtu")
        let tunMTU = try tunMTUNode.int(in: 68...FECParameters.maxPacketSizeLimit)
        let tunAddress = try tun.optional("address")?.interfaceAddress()
        let manageRoutes = try tun.optional("manage-routes")?.bool() ?? true
        let clampMSS = try tun.optional("clamp-mss")?.bool() ?? true
        let tunOffload = try tun.optional("offload")?.bool() ?? true

        let listen = try top.required("listen").endpoint()
        // 576 is the datagram size every IPv4 host must accept; below it no tunnel is usable.
        let wanMTU = try top.required("wan-mtu").int(in: 576...65_535)

        let files = KeyFileReader(configFile: file)
        let securityMode = try SecuritySection.mode(top.optional("security"))
        let security = try SecuritySection.read(
            top, mode: securityMode, modeLocation: top.location(of: "security"), files: files, warnings: &warnings)
        let runAs = try SecuritySection.runAs(top.optional("user"), at: top.location(of: "user"), warnings: &warnings)

        let peersNode = try top.required("peers")
        var peers: [PeerEntry] = []
        for node in try peersNode.list() { peers.append(try PeerEntry(node, security: securityMode, files: files)) }
        guard !peers.isEmpty else { throw peersNode.error(.badValue, "at least one peer is required") }

        let fec = try FECSection.read(
            top.section("fec", keys: FECSection.keys), maxPacketSize: tunMTU, sizeLocation: tunMTUNode.location, warnings: &warnings)
        let lanes = try laneCount(top.optional("lanes"))
        let busyPoll = try top.optional("busy-poll")?.duration(in: 0...10_000_000) ?? Defaults.busyPoll
        let fecSection = try top.section("fec", keys: FECSection.keys)
        let adaptation = try FECSection.adaptation(fecSection, fec: fec)
        let decoderSection = try top.section("decoder", keys: DecoderSection.keys)
        let limitsSection = try top.section("limits", keys: LimitsSection.keys)
        let laneCount = lanes.resolved(cores: ProcessInfo.processInfo.activeProcessorCount)
        let encodersPerLane = adaptation.mode == .adaptive ? 2 : 1
        let limit = try LimitsSection.limit(limitsSection)
        let decoder = try DecoderSection.read(
            decoderSection, fec: fec, mode: adaptation.mode,
            fits: { candidate in
                LimitsSection.total(peerLanes: peers.map(\.config.lanes), lanes: laneCount, fec: fec, encodersPerLane: encodersPerLane, decoder: candidate)
                    <= limit
            }, warnings: &warnings)
        try FECSection.checkLadder(fecSection, settings: adaptation, fec: fec, decoderWindow: decoder.windowPackets)
        let memoryLimit = try LimitsSection.read(
            limitsSection, peerLanes: peers.map(\.config.lanes), lanes: laneCount, fec: fec,
            encodersPerLane: encodersPerLane, decoder: decoder,
            blame: decoderSection.optional("window")?.location ?? fecSection.location(of: "interleaves"))
        let (keepaliveInterval, peerTimeout) = try keepalive(top.section("keepalive", keys: Keys.keepalive))
        let metricsListen = try top.section("metrics", keys: Keys.metrics).optional("listen")?.endpoint()
        let split = try SplitSection.read(top.section("split", keys: SplitSection.keys))
        let logLevel = try level(top.section("log", keys: Keys.log).optional("level")) ?? Defaults.logLevel

        let ownKey: PrivateKey? =
            switch security {
            case .none: nil
            case .noise(let key, _): key
            }
        try PeerRules.check(peers, listen: listen, manageRoutes: manageRoutes, ownKey: ownKey)
        let innerIPv6 = tunAddress?.address.isIPv4 == false || peers.contains { $0.config.subnets.contains { !$0.address.isIPv4 } }
        try MTURule.check(tunMTU: tunMTU, at: tunMTUNode.location, wanMTU: wanMTU, listen: listen, innerIPv6: innerIPv6, sealed: securityMode == .noise)

        var config = GatewayConfig(
            tunName: tunName, tunMTU: tunMTU, tunAddress: tunAddress, manageRoutes: manageRoutes, clampMSS: clampMSS,
            tunOffload: tunOffload,
            listen: listen, wanMTU: wanMTU, peers: peers.map(\.config), fec: fec, decoder: decoder,
            keepaliveInterval: keepaliveInterval, peerTimeout: peerTimeout, lanes: lanes, busyPoll: busyPoll, memoryLimit: memoryLimit,
            metricsListen: metricsListen,
            logLevel: logLevel, security: security, runAs: runAs)
        config.adaptation = adaptation
        config.split = split
        return (config, warnings)
    }

    /// Linux refuses longer names (IFNAMSIZ is 16 with the NUL), `.` and `..`; the character set keeps `ip` commands safe.
    private static func interfaceName(_ node: ConfigNode) throws(ConfigError) -> String {
        let name = try node.string("an interface name")
        guard (1...15).contains(name.count), name != ".", name != "..",
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
        else {
            throw node.error(.badValue, "interface name '\(name)' must be 1-15 characters of A-Z a-z 0-9 _ . -")
        }
        return name
    }

    private static func keepalive(_ section: ConfigMapping) throws(ConfigError) -> (UInt64, UInt64) {
        let interval = try section.optional("interval")?.duration(in: Ranges.keepaliveInterval) ?? Defaults.keepaliveInterval
        let timeoutNode = section.optional("peer-timeout")
        let timeout = try timeoutNode?.duration(in: Ranges.peerTimeout) ?? Defaults.peerTimeout
        guard timeout > interval else {
            // Blame the key that was written: a defaulted one is not the operator's mistake.
            throw section.location(of: timeoutNode == nil ? "interval" : "peer-timeout").error(
                .badValue,
                "peer-timeout \(DurationText.format(timeout)) must exceed interval \(DurationText.format(interval)), or every late keepalive would count as an outage")
        }
        return (interval, timeout)
    }

    private static func laneCount(_ node: ConfigNode?) throws(ConfigError) -> LaneCount {
        guard let node else { return .auto }
        if case .scalar(let scalar) = node.node, scalar.string == "auto" { return .auto }
        guard case .scalar = node.node, node.node.tag.rawValue == Tag.Name.int.rawValue else {
            throw node.error(.badValue, "lanes must be auto or a whole number from 1 to \(LaneID.maxLanes)")
        }
        return .fixed(try node.int(in: 1...LaneID.maxLanes))
    }

    private static func level(_ node: ConfigNode?) throws(ConfigError) -> LogLevel? {
        guard let node else { return nil }
        let text = try node.string("a log level")
        guard let level = LogLevel(rawValue: text) else {
            let names = LogLevel.allCases.map(\.rawValue)
            let hint = KeySuggestion.nearest(to: text, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw node.error(.badValue, "unknown level '\(text)'\(hint); use one of \(names.joined(separator: ", "))")
        }
        return level
    }
}
