import MaelstromSplit
import Prometheus

/// The split proxy's series: its counters as Prometheus counters, and the open connections.
struct SplitSeries {
    /// Name, help, label and how to read each counter from the proxy's totals.
    static let counters: [(name: String, help: String, label: (String, String)?, value: @Sendable (SplitCounters) -> UInt64)] = [
        ("maelstrom_split_connections_accepted_total", "Split connections accepted, by where they came from", ("origin", "site"), { $0.acceptedLocal }),
        ("maelstrom_split_connections_accepted_total", "Split connections accepted, by where they came from", ("origin", "tunnel"), { $0.acceptedTunnel }),
        ("maelstrom_split_connections_refused_total", "Split connections reset at once because max-connections were open", nil, { $0.refusedFull }),
        ("maelstrom_split_connect_failures_total", "Split connections whose onward leg could not be made", nil, { $0.connectFailed }),
        ("maelstrom_split_connections_reset_total", "Split connections ended by a reset or an error on either leg", nil, { $0.reset }),
        ("maelstrom_split_connections_idle_closed_total", "Split connections reset after idle-timeout", nil, { $0.idleClosed }),
        ("maelstrom_split_connections_closed_total", "Split connections that ended in order both ways", nil, { $0.closed }),
        ("maelstrom_split_bytes_total", "Bytes relayed by the split proxy, by direction", ("direction", "forward"), { $0.bytesForward }),
        ("maelstrom_split_bytes_total", "Bytes relayed by the split proxy, by direction", ("direction", "backward"), { $0.bytesBackward }),
    ]

    var counters: [Counter]
    var active: Gauge
    var last = SplitCounters()

    init(registry: PrometheusCollectorRegistry) {
        counters = Self.counters.map { metric in
            registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: metric.name, unitName: "", helpText: metric.help),
                labels: metric.label.map { [$0] } ?? [])
        }
        active = registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "maelstrom_split_connections_active", unitName: "", helpText: "Split connections open now"),
            labels: [])
    }

    /// Grows each counter by what changed since the previous reading.
    mutating func update(from current: SplitCounters) {
        for (index, metric) in Self.counters.enumerated() {
            let grown = MetricsExporter.increase(from: metric.value(last), to: metric.value(current))
            if grown > 0 { counters[index].increment(by: Int64(clamping: grown)) }
        }
        active.set(Double(current.active))
        last = current
    }
}
