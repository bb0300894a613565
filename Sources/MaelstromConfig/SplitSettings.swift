/// How TCP to a peer's subnets is carried (`flow-control`): end to end through the tunnel, or
/// split at the gateways, which terminate the connections and relay them over WAN-leg TCP.
public enum FlowControl: Sendable, Equatable {
    /// Today's behaviour: the end hosts' own TCP crosses the tunnel.
    case endToEnd
    /// The gateways terminate the TCP connections whose destination port `ports` selects.
    case split(SplitPorts)

    /// The ports split, or nil under end-to-end flow control.
    public var splitPorts: SplitPorts? {
        if case .split(let ports) = self { ports } else { nil }
    }
}

/// Which TCP destination ports split mode takes: those in `include` (every port when it is
/// empty) that are not in `exclude`.
public struct SplitPorts: Sendable, Equatable {
    /// `split-ports`; empty means every port.
    public let include: [PortRange]
    /// `split-exclude`.
    public let exclude: [PortRange]

    /// Creates a port selection.
    public init(include: [PortRange] = [], exclude: [PortRange] = []) {
        self.include = include
        self.exclude = exclude
    }

    /// Whether a connection to `port` is split.
    public func contains(_ port: UInt16) -> Bool {
        (include.isEmpty || include.contains { $0.contains(port) }) && !exclude.contains { $0.contains(port) }
    }
}

/// An inclusive range of TCP ports, `443` or `5000-5999`.
public struct PortRange: Sendable, Equatable, CustomStringConvertible {
    /// The lowest port.
    public let lower: UInt16
    /// The highest port (equal to `lower` for one port).
    public let upper: UInt16

    /// A range; nil when `lower` exceeds `upper` or either is 0.
    public init?(_ lower: UInt16, _ upper: UInt16) {
        guard lower >= 1, lower <= upper else { return nil }
        self.lower = lower
        self.upper = upper
    }

    /// Whether `port` lies in the range.
    public func contains(_ port: UInt16) -> Bool { port >= lower && port <= upper }

    /// `443` or `5000-5999`, as the config and nftables write it.
    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }
}

/// The `split` section: the local proxy that terminates split connections (docs/SPLIT.md).
public struct SplitSettings: Sendable, Equatable {
    /// The listener for connections from the local site (`listen-port`); connections arriving
    /// from the tunnel go to the next port.
    public var listenPort: UInt16 = 7411
    /// Relayed connections at once (`max-connections`); one more is reset at once and counted.
    public var maxConnections: Int = 1024
    /// Bytes the proxy holds per connection and direction between its two legs (`buffer`).
    public var buffer: Int = 256 << 10
    /// Socket buffers of each WAN-leg connection, send and receive (`wan-buffer`): at least the
    /// bandwidth-delay product of the path.
    public var wanBuffer: Int = 4 << 20
    /// Congestion control of the WAN legs (`wan-congestion`).
    public var wanCongestion: String = "cubic"
    /// Idle time before TCP keepalive probes start, in seconds (`keepalive`).
    public var keepaliveSeconds: Int = 60
    /// A connection that moved no byte either way for this long is reset (`idle-timeout`), in nanoseconds.
    public var idleTimeout: UInt64 = 3_600_000_000_000
    /// The firewall mark of packets delivered to the proxy (`mark`).
    public var mark: UInt32 = 0x4D53
    /// The routing table that delivers marked packets locally (`route-table`).
    public var routeTable: Int = 4931

    /// The defaults.
    public init() {}

    /// Memory the proxy may hold at most: two pipes and the WAN leg's two socket buffers per connection.
    public var memoryBound: UInt64 { UInt64(maxConnections) * UInt64(2 * buffer + wanBuffer) }
}
