import Foundation

/// What `maelstromd stats` reports: each peer's health and what FEC did for it, and the gateway's drops.
struct StatsReport: Encodable, Sendable {
    /// One peer's summary.
    struct Peer: Encodable, Sendable {
        /// The peer's name (its `peer` label).
        var name: String
        /// Whether it was heard from within the peer timeout.
        var up: Bool
        /// Last keepalive round trip in seconds; nil until one was measured.
        var rttSeconds: Double?
        /// Data frames sent to the peer.
        var dataFramesSent: UInt64
        /// Bytes of the packets in them.
        var dataBytesSent: UInt64
        /// Repair frames sent to the peer.
        var repairFramesSent: UInt64
        /// Data frames received from the peer.
        var dataFramesReceived: UInt64
        /// Bytes of the packets in them.
        var dataBytesReceived: UInt64
        /// Repair frames received from the peer.
        var repairFramesReceived: UInt64
        /// Packets from the peer rebuilt from repairs.
        var packetsRebuilt: UInt64
        /// Packets from the peer lost for good.
        var packetsUnrecoverable: UInt64
        /// Fraction of the peer's data lost on the WAN since the daemon started.
        var lossRatio: Double
        /// How long rebuilt packets waited.
        var recoveryLatency: Latency

        /// Snake-case JSON keys, as in the other commands' `--json` output.
        enum CodingKeys: String, CodingKey {
            case name, up
            case rttSeconds = "rtt_seconds"
            case dataFramesSent = "data_frames_sent"
            case dataBytesSent = "data_bytes_sent"
            case repairFramesSent = "repair_frames_sent"
            case dataFramesReceived = "data_frames_received"
            case dataBytesReceived = "data_bytes_received"
            case repairFramesReceived = "repair_frames_received"
            case packetsRebuilt = "packets_rebuilt"
            case packetsUnrecoverable = "packets_unrecoverable"
            case lossRatio = "loss_ratio"
            case recoveryLatency = "recovery_latency"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(up, forKey: .up)
            // An explicit null keeps the key set the same for every peer, which is easier on jq.
            try container.encode(rttSeconds, forKey: .rttSeconds)
            try container.encode(dataFramesSent, forKey: .dataFramesSent)
            try container.encode(dataBytesSent, forKey: .dataBytesSent)
            try container.encode(repairFramesSent, forKey: .repairFramesSent)
            try container.encode(dataFramesReceived, forKey: .dataFramesReceived)
            try container.encode(dataBytesReceived, forKey: .dataBytesReceived)
            try container.encode(repairFramesReceived, forKey: .repairFramesReceived)
            try container.encode(packetsRebuilt, forKey: .packetsRebuilt)
            try container.encode(packetsUnrecoverable, forKey: .packetsUnrecoverable)
            try container.encode(lossRatio, forKey: .lossRatio)
            try container.encode(recoveryLatency, forKey: .recoveryLatency)
        }
    }

    /// Recovery latency estimated from the histogram buckets.
    struct Latency: Encodable, Sendable {
        /// Packets rebuilt with a recorded latency.
        var count: UInt64
        /// Median, in seconds; nil when nothing was rebuilt.
        var p50Seconds: Double?
        /// 99th percentile, in seconds; nil when nothing was rebuilt.
        var p99Seconds: Double?

        /// Snake-case JSON keys.
        enum CodingKeys: String, CodingKey {
            case count
            case p50Seconds = "p50_seconds"
            case p99Seconds = "p99_seconds"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(count, forKey: .count)
            try container.encode(p50Seconds, forKey: .p50Seconds)
            try container.encode(p99Seconds, forKey: .p99Seconds)
        }
    }

    /// The URL the numbers came from.
    var url: String
    /// Peers, in the order the daemon lists them.
    var peers: [Peer]
    /// Every gateway-wide counter by short name (`send_queue_drops` for `maelstrom_send_queue_drops_total`).
    var gateway: [String: UInt64]

    /// Reads the report out of a scrape; nil when the text holds no Maelstrom series at all.
    init?(_ exposition: Exposition, url: String) {
        guard exposition.samples.contains(where: { $0.name.hasPrefix("maelstrom_") }) else { return nil }
        self.url = url
        gateway = [:]
        for metric in MetricCatalog.gatewayCounters {
            gateway[Self.shortName(metric.name)] = Self.count(exposition.value(metric.name))
        }
        peers = Self.peerNames(exposition).map { Self.peer($0, in: exposition) }
    }

    /// The gateway-wide counters that count losses and are not zero, by short name.
    var nonZeroDrops: [(name: String, count: UInt64)] {
        MetricCatalog.gatewayCounters.compactMap { metric in
            let name = Self.shortName(metric.name)
            guard MetricCatalog.gatewayDropCounters.contains(metric.name), let count = gateway[name], count > 0
            else { return nil }
            return (name, count)
        }
    }

    /// The human summary, several lines per peer.
    func text() -> String {
        var lines: [String] = []
        if peers.isEmpty { lines.append("no peers reported yet (the gateway publishes its first counters within a second of starting)") }
        for peer in peers {
            let rtt = peer.rttSeconds.map { "rtt \(Self.duration($0))" } ?? "rtt not measured yet"
            lines.append("\(peer.name): \(peer.up ? "up" : "DOWN"), \(rtt)")
            lines.append(
                "  data frames    sent " + Self.column("\(peer.dataFramesSent) (\(Self.bytes(peer.dataBytesSent)))")
                    + "received \(peer.dataFramesReceived) (\(Self.bytes(peer.dataBytesReceived)))")
            lines.append(
                "  repair frames  sent " + Self.column("\(peer.repairFramesSent)") + "received \(peer.repairFramesReceived)")
            lines.append(
                "  rebuilt \(peer.packetsRebuilt), unrecoverable \(peer.packetsUnrecoverable), "
                    + "loss seen \(Self.percent(peer.lossRatio))")
            let latency = peer.recoveryLatency
            if latency.count == 0 {
                lines.append("  recovery latency: nothing rebuilt yet")
            } else {
                lines.append(
                    "  recovery latency p50 \(latency.p50Seconds.map(Self.duration) ?? "?"), "
                        + "p99 \(latency.p99Seconds.map(Self.duration) ?? "?") (\(latency.count) rebuilt)")
            }
        }
        let drops = nonZeroDrops
        if !drops.isEmpty {
            lines.append("gateway drops: " + drops.map { "\($0.name) \($0.count)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// One line of JSON with sorted keys.
    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The top-level JSON keys.
    enum CodingKeys: String, CodingKey {
        case url, peers, gateway
    }

    private static func peer(_ name: String, in exposition: Exposition) -> Peer {
        let labels = [MetricCatalog.peerLabel: name]
        func counter(_ metric: String) -> UInt64 { count(exposition.value(metric, labels)) }
        let histogram = exposition.histogram(MetricCatalog.recoveryLatency.name, labels)
        return Peer(
            name: name,
            up: exposition.value(MetricCatalog.peerUp.name, labels) == 1,
            rttSeconds: exposition.value(MetricCatalog.peerRTT.name, labels).flatMap { $0.isFinite ? $0 : nil },
            dataFramesSent: counter("maelstrom_data_frames_sent_total"),
            dataBytesSent: counter("maelstrom_data_bytes_sent_total"),
            repairFramesSent: counter("maelstrom_repair_frames_sent_total"),
            dataFramesReceived: counter("maelstrom_data_frames_received_total"),
            dataBytesReceived: counter("maelstrom_data_bytes_received_total"),
            repairFramesReceived: counter("maelstrom_repair_frames_received_total"),
            packetsRebuilt: counter("maelstrom_packets_rebuilt_total"),
            packetsUnrecoverable: counter("maelstrom_packets_unrecoverable_total"),
            lossRatio: exposition.value(MetricCatalog.peerLossRatio.name, labels).flatMap { $0.isFinite ? $0 : nil } ?? 0,
            recoveryLatency: Latency(
                count: count(histogram?.count), p50Seconds: histogram?.quantile(0.5),
                p99Seconds: histogram?.quantile(0.99)))
    }

    /// Peer names in the daemon's order: the histogram lists them in configuration order, while the
    /// registry's own series come out in hash order.
    private static func peerNames(_ exposition: Exposition) -> [String] {
        var names: [String] = []
        var seen = Set<String>()
        let histogramFirst =
            exposition.samples(named: MetricCatalog.recoveryLatency.name + "_bucket")
            + exposition.samples.filter { $0.name.hasPrefix("maelstrom_") }
        for sample in histogramFirst {
            guard let name = sample.labels[MetricCatalog.peerLabel], seen.insert(name).inserted else { continue }
            names.append(name)
        }
        return names
    }

    private static func count(_ value: Double?) -> UInt64 {
        guard let value, value.isFinite, value > 0 else { return 0 }
        return value >= 0x1p64 ? .max : UInt64(value)
    }

    private static func shortName(_ metric: String) -> String {
        var name = Substring(metric)
        if name.hasPrefix("maelstrom_") { name = name.dropFirst("maelstrom_".count) }
        if name.hasSuffix("_total") { name = name.dropLast("_total".count) }
        return String(name)
    }

    private static func column(_ text: String) -> String {
        text.count >= 24 ? text + "  " : text.padding(toLength: 24, withPad: " ", startingAt: 0)
    }

    private static func duration(_ seconds: Double) -> String {
        if seconds < 1e-5 { return String(format: "%.1f µs", seconds * 1e6) }
        if seconds < 1e-3 { return String(format: "%.0f µs", seconds * 1e6) }
        if seconds < 1 { return String(format: "%.2f ms", seconds * 1e3) }
        return String(format: "%.2f s", seconds)
    }

    private static func bytes(_ count: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    private static func percent(_ ratio: Double) -> String {
        ratio == 0 ? "0%" : String(format: "%.3g%%", ratio * 100)
    }
}
