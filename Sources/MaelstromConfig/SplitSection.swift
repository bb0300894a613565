import MaelstromCore

/// Reads the `split` section and each peer's `flow-control`, `split-ports` and `split-exclude`.
enum SplitSection {
    static let keys = [
        "listen-port", "max-connections", "buffer", "wan-buffer", "wan-congestion", "keepalive", "idle-timeout", "mark", "route-table",
    ]
    static let peerKeys = ["flow-control", "split-ports", "split-exclude"]

    static func read(_ section: ConfigMapping) throws(ConfigError) -> SplitSettings {
        var settings = SplitSettings()
        // The far listener takes the next port, so the first must leave room for it.
        if let node = section.optional("listen-port") { settings.listenPort = UInt16(try node.int(in: 1...65_534)) }
        if let node = section.optional("max-connections") { settings.maxConnections = try node.int(in: 1...1_000_000) }
        // Pipes hold whole pages; the kernel rounds up to a power of two.
        if let node = section.optional("buffer") { settings.buffer = Int(try node.byteSize(in: 4_096...(64 << 20))) }
        if let node = section.optional("wan-buffer") { settings.wanBuffer = Int(try node.byteSize(in: 65_536...(1 << 30))) }
        if let node = section.optional("wan-congestion") {
            let name = try node.string("a congestion control name")
            // The kernel's names (cubic, bbr, reno, htcp): short, lower case, no spaces.
            guard (1...15).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                throw node.error(.badValue, "wan-congestion '\(name)' must be a kernel congestion control name such as cubic, bbr or reno")
            }
            settings.wanCongestion = name
        }
        if let node = section.optional("keepalive") {
            settings.keepaliveSeconds = Int(try node.duration(in: 1_000_000_000...7_200_000_000_000) / 1_000_000_000)
        }
        if let node = section.optional("idle-timeout") {
            settings.idleTimeout = try node.duration(in: 1_000_000_000...(30 * 86_400 * 1_000_000_000))
        }
        if let node = section.optional("mark") { settings.mark = UInt32(try node.int(in: 1...Int(Int32.max))) }
        if let node = section.optional("route-table") {
            let table = try node.int(in: 1...Int(Int32.max))
            // 253-255 are the kernel's default, main and local tables.
            guard !(253...255).contains(table) else {
                throw node.error(.badValue, "route-table \(table) is one of the kernel's own (253 default, 254 main, 255 local)")
            }
            settings.routeTable = table
        }
        return settings
    }

    /// A peer's flow control; `subnets` must be IPv4 when it is split (the rules are IPv4 only).
    static func flowControl(_ peer: ConfigMapping, subnets: [(IPPrefix, Location)]) throws(ConfigError) -> FlowControl {
        let modeNode = peer.optional("flow-control")
        let mode = try modeNode?.string("end-to-end or split") ?? "end-to-end"
        let includeNode = peer.optional("split-ports")
        let excludeNode = peer.optional("split-exclude")
        switch mode {
        case "end-to-end":
            for (key, node) in [("split-ports", includeNode), ("split-exclude", excludeNode)] {
                if let node { throw node.error(.badValue, "\(key) applies only with flow-control: split") }
            }
            return .endToEnd
        case "split":
            for (prefix, location) in subnets where !prefix.address.isIPv4 {
                throw location.error(.family, "\(prefix) is IPv6; split flow control handles IPv4 subnets only (use end-to-end for this peer)")
            }
            let include = try includeNode.map { node throws(ConfigError) in try ports(node) } ?? []
            let exclude = try excludeNode.map { node throws(ConfigError) in try ports(node) } ?? []
            return .split(SplitPorts(include: include, exclude: exclude))
        default:
            let hint = KeySuggestion.nearest(to: mode, among: ["end-to-end", "split"]).map { " (did you mean '\($0)'?)" } ?? ""
            throw modeNode!.error(.badValue, "unknown flow-control '\(mode)'\(hint); use end-to-end or split")
        }
    }

    /// A list of ports and `LOW-HIGH` ranges.
    private static func ports(_ node: ConfigNode) throws(ConfigError) -> [PortRange] {
        let items = try node.list()
        guard !items.isEmpty else { throw node.error(.badValue, "give at least one port or range, or leave the key out") }
        var ranges: [PortRange] = []
        for item in items {
            let text = try item.string("a port or a range LOW-HIGH")
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let lower = UInt16(parts[0]), let upper = UInt16(parts.last!),
                let range = PortRange(lower, upper)
            else {
                throw item.error(.badValue, "'\(text)' is not a port (1-65535) or a range LOW-HIGH with LOW <= HIGH")
            }
            ranges.append(range)
        }
        return ranges
    }
}
