import NIOConcurrencyHelpers
import MaelstromCore
import MaelstromSplit
import Prometheus

/// Turns the gateway's successive snapshots into Prometheus series and renders them as exposition text.
///
/// The packet thread only publishes plain counters; every Prometheus object (whose updates take locks
/// and allocate) is touched here, on the metrics task, about once a second.
final class MetricsExporter: Sendable {
    /// The series of one peer, plus what its previous snapshot said, to turn totals into increments.
    private struct PeerSeries {
        var counters: [Counter]
        var securityCounters: [Counter]
        var up: Gauge
        var lossRatio: Gauge
        var fecOverhead: Gauge
        var fecPredictedResidual: Gauge
        var queueDelay: Gauge
        var wanLoss: [Gauge]
        var roundTrip: Gauge?
        var recoveryLatency = CumulativeLatencyHistogram()
        var last = PeerCounters()
        var lastSecurity = PeerSecurityCounters()
    }

    /// Everything that changes between snapshots, guarded together so a scrape never sees half an update.
    private struct State {
        var takenAtNanoseconds: UInt64?
        var gatewayCounters: [Counter]
        var lastGatewayValues: [UInt64]
        var peers: [String: PeerSeries] = [:]
        var tunOffloads: Gauge
        var lanes: Gauge
        // Scrapes list peers in the order the gateway first reported them (its configuration order).
        var peerOrder: [String] = []
        /// Registered at the first reading of a split proxy, so gateways without one export none.
        var split: SplitSeries?
    }

    private let registry: PrometheusCollectorRegistry
    private let state: NIOLockedValueBox<State>

    /// Creates an exporter whose gateway-wide counters read zero until the first snapshot.
    init() {
        let registry = PrometheusCollectorRegistry()
        // Registered up front so a scrape before the first snapshot already lists the gateway series.
        let gatewayCounters = MetricCatalog.gatewayCounters.map {
            registry.makeCounter(descriptor: Self.descriptor($0.name, $0.help), labels: [])
        }
        self.registry = registry
        self.state = NIOLockedValueBox(
            State(
                gatewayCounters: gatewayCounters,
                lastGatewayValues: [UInt64](repeating: 0, count: gatewayCounters.count),
                tunOffloads: registry.makeGauge(
                    descriptor: Self.descriptor(MetricCatalog.tunOffloads.name, MetricCatalog.tunOffloads.help), labels: []),
                lanes: registry.makeGauge(descriptor: Self.descriptor(MetricCatalog.lanes.name, MetricCatalog.lanes.help), labels: [])))
    }

    /// Folds a snapshot into the series: counters grow by what changed since the previous one.
    func absorb(_ snapshot: GatewaySnapshot) {
        state.withLockedValue { state in
            if state.takenAtNanoseconds == snapshot.takenAtNanoseconds { return }
            state.takenAtNanoseconds = snapshot.takenAtNanoseconds

            for (index, metric) in MetricCatalog.gatewayCounters.enumerated() {
                let value = metric.value(snapshot)
                Self.add(Self.increase(from: state.lastGatewayValues[index], to: value), to: state.gatewayCounters[index])
                state.lastGatewayValues[index] = value
            }

            state.tunOffloads.set(Double(snapshot.dataPlane.tunOffloads))
            state.lanes.set(Double(snapshot.lanes))

            for peer in snapshot.peers {
                var series: PeerSeries
                if let existing = state.peers[peer.name] {
                    series = existing
                } else {
                    series = makeSeries(peer: peer.name)
                    state.peerOrder.append(peer.name)
                }
                update(&series, from: peer)
                state.peers[peer.name] = series
            }
        }
    }

    /// Folds the split proxy's totals into its series.
    func absorb(split counters: SplitCounters) {
        state.withLockedValue { state in
            if state.split == nil { state.split = SplitSeries(registry: registry) }
            state.split?.update(from: counters)
        }
    }

    /// The Prometheus text exposition of every series (format version 0.0.4).
    func render() -> [UInt8] {
        state.withLockedValue { state in
            var text = [UInt8]()
            text.reserveCapacity(4096 + 2048 * state.peerOrder.count)
            registry.emit(into: &text)
            renderRecoveryLatency(state, into: &text)
            return text
        }
    }

    private func makeSeries(peer: String) -> PeerSeries {
        let labels = [(MetricCatalog.peerLabel, peer)]
        return PeerSeries(
            counters: MetricCatalog.peerCounters.map {
                registry.makeCounter(descriptor: Self.descriptor($0.name, $0.help), labels: labels)
            },
            securityCounters: MetricCatalog.securityCounters.map {
                registry.makeCounter(descriptor: Self.descriptor($0.name, $0.help), labels: labels)
            },
            up: registry.makeGauge(
                descriptor: Self.descriptor(MetricCatalog.peerUp.name, MetricCatalog.peerUp.help), labels: labels),
            lossRatio: registry.makeGauge(
                descriptor: Self.descriptor(MetricCatalog.peerLossRatio.name, MetricCatalog.peerLossRatio.help),
                labels: labels),
            fecOverhead: registry.makeGauge(
                descriptor: Self.descriptor(MetricCatalog.fecOverhead.name, MetricCatalog.fecOverhead.help), labels: labels),
            fecPredictedResidual: registry.makeGauge(
                descriptor: Self.descriptor(MetricCatalog.fecPredictedResidual.name, MetricCatalog.fecPredictedResidual.help),
                labels: labels),
            queueDelay: registry.makeGauge(
                descriptor: Self.descriptor(MetricCatalog.wanQueueDelay.name, MetricCatalog.wanQueueDelay.help), labels: labels),
            wanLoss: MetricCatalog.wanLossWindows.map { window in
                registry.makeGauge(
                    descriptor: Self.descriptor(MetricCatalog.wanLossWindow.name, MetricCatalog.wanLossWindow.help),
                    labels: labels + [("window", window)])
            })
    }

    private func update(_ series: inout PeerSeries, from peer: GatewaySnapshot.Peer) {
        for (index, metric) in MetricCatalog.peerCounters.enumerated() {
            Self.add(Self.increase(from: metric.value(series.last), to: metric.value(peer.counters)), to: series.counters[index])
        }
        for (index, metric) in MetricCatalog.securityCounters.enumerated() {
            Self.add(
                Self.increase(from: metric.value(series.lastSecurity), to: metric.value(peer.security)), to: series.securityCounters[index])
        }
        series.lastSecurity = peer.security
        series.up.set(peer.up ? 1.0 : 0.0)
        series.lossRatio.set(peer.counters.lossRate)
        series.fecOverhead.set(peer.fec.overhead)
        series.fecPredictedResidual.set(peer.fec.predictedResidual)
        series.queueDelay.set(Double(peer.counters.wanQueueDelayNanoseconds) / 1e9)
        for (index, window) in [peer.fec.lastSecond, peer.fec.lastTenSeconds, peer.fec.lastMinute].enumerated() {
            series.wanLoss[index].set(window.lossRate)
        }
        if let nanoseconds = peer.roundTripNanoseconds {
            let gauge =
                series.roundTrip
                ?? registry.makeGauge(
                    descriptor: Self.descriptor(MetricCatalog.peerRTT.name, MetricCatalog.peerRTT.help),
                    labels: [(MetricCatalog.peerLabel, peer.name)])
            gauge.set(Double(nanoseconds) / 1e9)
            series.roundTrip = gauge
        } else if let gauge = series.roundTrip {
            // A stale round trip would read as a live measurement; no series is the honest "unknown".
            registry.unregisterGauge(gauge)
            series.roundTrip = nil
        }
        series.recoveryLatency.add(peer.counters.recoveryLatency, since: series.last.recoveryLatency)
        series.last = peer.counters
    }

    // Written by hand rather than through a Prometheus `Histogram`: that type only takes single
    // observations, so replaying bucket deltas would make `_sum` the sum of bucket bounds, not latencies.
    private func renderRecoveryLatency(_ state: State, into text: inout [UInt8]) {
        guard !state.peerOrder.isEmpty else { return }
        let name = MetricCatalog.recoveryLatency.name
        var out = "# HELP \(name) \(MetricCatalog.recoveryLatency.help)\n# TYPE \(name) histogram\n"
        for peer in state.peerOrder {
            guard let histogram = state.peers[peer]?.recoveryLatency else { continue }
            let label = "\(MetricCatalog.peerLabel)=\"\(Self.escapeLabelValue(peer))\""
            var cumulative: UInt64 = 0
            for index in 0..<LatencyHistogram.bucketCount {
                cumulative &+= histogram.buckets[index]
                let bound = LatencyHistogram.upperBoundSeconds(index)
                let le = bound.isInfinite ? "+Inf" : "\(bound)"
                out += "\(name)_bucket{\(label),le=\"\(le)\"} \(cumulative)\n"
            }
            out += "\(name)_sum{\(label)} \(Double(histogram.sumNanoseconds) / 1e9)\n"
            out += "\(name)_count{\(label)} \(histogram.count)\n"
        }
        text.append(contentsOf: out.utf8)
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    private static func add(_ amount: UInt64, to counter: Counter) {
        if amount > 0 { counter.increment(by: Int64(clamping: amount)) }
    }

    /// How much a cumulative counter grew between two readings; a drop means its source restarted
    /// from zero, so everything it now holds is new.
    static func increase(from previous: UInt64, to current: UInt64) -> UInt64 {
        current >= previous ? current - previous : current
    }

    /// Escapes a label value for the text exposition format (backslash, double quote, line feed).
    static func escapeLabelValue(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}


/// Running totals of a `LatencyHistogram` across snapshots, surviving resets of its source.
struct CumulativeLatencyHistogram: Sendable, Equatable {
    /// Per-bucket totals (not cumulative across buckets), laid out as `LatencyHistogram.buckets`.
    private(set) var buckets = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
    /// Observations counted.
    private(set) var count: UInt64 = 0
    /// Sum of the observations, in nanoseconds.
    private(set) var sumNanoseconds: UInt64 = 0

    /// Adds what `current` recorded since `previous`; if any part of it went backwards the source was
    /// reset, and all of `current` is new.
    mutating func add(_ current: LatencyHistogram, since previous: LatencyHistogram) {
        let reset =
            current.count < previous.count || current.sumNanoseconds < previous.sumNanoseconds
            || zip(current.buckets, previous.buckets).contains { $0 < $1 }
        for index in buckets.indices {
            let now = index < current.buckets.count ? current.buckets[index] : 0
            let before = reset || index >= previous.buckets.count ? 0 : previous.buckets[index]
            buckets[index] &+= now - before
        }
        count &+= reset ? current.count : current.count - previous.count
        sumNanoseconds &+= reset ? current.sumNanoseconds : current.sumNanoseconds - previous.sumNanoseconds
    }
}
