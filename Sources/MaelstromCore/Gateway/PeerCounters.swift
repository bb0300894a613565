/// Recovery latencies in power-of-two microsecond buckets: allocation-free to record.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds of the buckets in microseconds: 1, 2, 4, … 2²³ (about 8.4 s), then +∞.
    public static let bucketCount = 25
    /// Count per bucket; bucket `k` holds latencies ≤ 2^k µs (the last holds the rest).
    public private(set) var buckets: [UInt64]
    /// Number of values recorded.
    public private(set) var count: UInt64 = 0
    /// Sum of the values recorded, in nanoseconds.
    public private(set) var sumNanoseconds: UInt64 = 0

    /// Creates an empty histogram.
    public init() { buckets = [UInt64](repeating: 0, count: Self.bucketCount) }

    /// The upper bound of bucket `index` in seconds (`.infinity` for the last).
    public static func upperBoundSeconds(_ index: Int) -> Double {
        index == bucketCount - 1 ? .infinity : Double(1 << index) / 1e6
    }

    /// Records one latency.
    public mutating func record(nanoseconds: UInt64) {
        let micros = (nanoseconds + 999) / 1000
        let index = micros <= 1 ? 0 : min(Self.bucketCount - 1, 64 - (micros - 1).leadingZeroBitCount)
        buckets[index] &+= 1
        count &+= 1
        sumNanoseconds &+= nanoseconds
    }

    /// Adds `other`'s values to these.
    public mutating func add(_ other: LatencyHistogram) {
        for index in buckets.indices { buckets[index] &+= other.buckets[index] }
        count &+= other.count
        sumNanoseconds &+= other.sumNanoseconds
    }

    /// The bucket bound below which `fraction` of the values lie (an upper estimate), in seconds.
    public func quantileSeconds(_ fraction: Double) -> Double {
        guard count > 0 else { return 0 }
        let target = UInt64((Double(count) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (index, value) in buckets.enumerated() {
            seen += value
            if seen >= max(target, 1) { return Self.upperBoundSeconds(index) }
        }
        return .infinity
    }
}

/// What the gateway counted for one peer; plain integers owned by the packet thread.
public struct PeerCounters: Sendable, Equatable {
    /// Packets read from the TUN device and sent to this peer as data frames.
    public var dataFramesSent: UInt64 = 0
    /// Bytes of those packets.
    public var dataBytesSent: UInt64 = 0
    /// Repair frames sent to this peer.
    public var repairFramesSent: UInt64 = 0
    /// Bytes of those repairs' payloads.
    public var repairBytesSent: UInt64 = 0
    /// Keepalives sent.
    public var keepalivesSent: UInt64 = 0
    /// Data frames received from this peer.
    public var dataFramesReceived: UInt64 = 0
    /// Bytes of packets received in data frames.
    public var dataBytesReceived: UInt64 = 0
    /// Repair frames received from this peer.
    public var repairFramesReceived: UInt64 = 0
    /// Keepalives received.
    public var keepalivesReceived: UInt64 = 0
    /// Packets written to the TUN device (originals and rebuilt).
    public var packetsDelivered: UInt64 = 0
    /// Packets rebuilt from repairs.
    public var rebuilt: UInt64 = 0
    /// Packets the peer sent that were neither received nor rebuilt.
    public var unrecoverable: UInt64 = 0
    /// Duplicate data frames.
    public var duplicates: UInt64 = 0
    /// Datagrams from this peer that were not valid frames, and delivered bytes that were not IP.
    public var malformed: UInt64 = 0
    /// Data frames that came after their place in the window had gone.
    public var late: UInt64 = 0
    /// Times the peer's stream restarted (the peer gateway restarted).
    public var streamRestarts: UInt64 = 0
    /// Frames of a stream of the peer's that this gateway has left (a restarted peer's stragglers).
    public var staleStreamFrames: UInt64 = 0
    /// Frames of a new stream that nothing confirmed and that could not be held: dropped.
    public var unconfirmedStreamFrames: UInt64 = 0
    /// Frames far beyond the decoder window that nothing vouched for: dropped.
    public var farJumpsRefused: UInt64 = 0
    /// Keepalives naming another stream than the current one, older than its own: ignored.
    public var staleKeepalives: UInt64 = 0
    /// Repairs that could not be kept waiting: no room in the pool, or overlapping one kept.
    public var repairsDropped: UInt64 = 0
    /// Sealed repair frames not even opened: every member had already arrived.
    public var repairsSkipped: UInt64 = 0
    /// Datagrams from a lane of the peer's beyond its configured `lanes`: refused.
    public var laneRefused: UInt64 = 0
    /// TCP SYNs whose MSS was lowered on the way to this peer.
    public var mssClamped: UInt64 = 0
    /// Recovery latency of rebuilt packets.
    public var recoveryLatency = LatencyHistogram()
    /// Loss reports sent to this peer (what this side measured of its streams).
    public var lossReportsSent: UInt64 = 0
    /// Loss reports received from this peer.
    public var lossReportsReceived: UInt64 = 0
    /// Reports sent before their interval because losses appeared (in `lossReportsSent` too).
    public var earlyLossReports: UInt64 = 0
    /// Loss reports about a stream this lane does not send (an old stream, or another lane's).
    public var lossReportsIgnored: UInt64 = 0
    /// Times the adaptive policy changed the code sent to this peer.
    public var codeSwitches: UInt64 = 0
    /// Sequence numbers of the peer's streams judged by the loss meter (received or lost).
    public var wanPacketsExpected: UInt64 = 0
    /// Of those, data frames lost on the WAN (rebuilt or not), counted from sequence gaps.
    public var wanPacketsLost: UInt64 = 0
    /// Runs of consecutive lost data frames.
    public var wanLossBursts: UInt64 = 0
    /// Data frames that arrived after the loss meter had counted them lost (reordered further than its horizon).
    public var wanLateArrivals: UInt64 = 0
    /// Sequence numbers judged while the path's queue was full (in `wanPacketsExpected` too, in no loss window).
    public var wanCongestionExpected: UInt64 = 0
    /// Of those, lost: the senders' own congestion, left to TCP (not in the reports' loss).
    public var wanCongestionLost: UInt64 = 0
    /// Keepalives that found the path's queue full.
    public var wanCongestedSamples: UInt64 = 0
    /// The queue the last keepalive waited in, in nanoseconds (a gauge: the largest over lanes when added).
    public var wanQueueDelayNanoseconds: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Adds `other`'s counts to these (the lanes of one gateway).
    public mutating func add(_ other: PeerCounters) {
        dataFramesSent &+= other.dataFramesSent
        lossReportsSent &+= other.lossReportsSent
        lossReportsReceived &+= other.lossReportsReceived
        earlyLossReports &+= other.earlyLossReports
        lossReportsIgnored &+= other.lossReportsIgnored
        codeSwitches &+= other.codeSwitches
        wanPacketsExpected &+= other.wanPacketsExpected
        wanPacketsLost &+= other.wanPacketsLost
        wanLossBursts &+= other.wanLossBursts
        wanLateArrivals &+= other.wanLateArrivals
        wanCongestionExpected &+= other.wanCongestionExpected
        wanCongestionLost &+= other.wanCongestionLost
        wanCongestedSamples &+= other.wanCongestedSamples
        wanQueueDelayNanoseconds = max(wanQueueDelayNanoseconds, other.wanQueueDelayNanoseconds)
        dataBytesSent &+= other.dataBytesSent
        repairFramesSent &+= other.repairFramesSent
        repairBytesSent &+= other.repairBytesSent
        keepalivesSent &+= other.keepalivesSent
        dataFramesReceived &+= other.dataFramesReceived
        dataBytesReceived &+= other.dataBytesReceived
        repairFramesReceived &+= other.repairFramesReceived
        keepalivesReceived &+= other.keepalivesReceived
        packetsDelivered &+= other.packetsDelivered
        rebuilt &+= other.rebuilt
        unrecoverable &+= other.unrecoverable
        duplicates &+= other.duplicates
        malformed &+= other.malformed
        late &+= other.late
        streamRestarts &+= other.streamRestarts
        staleStreamFrames &+= other.staleStreamFrames
        unconfirmedStreamFrames &+= other.unconfirmedStreamFrames
        farJumpsRefused &+= other.farJumpsRefused
        staleKeepalives &+= other.staleKeepalives
        repairsDropped &+= other.repairsDropped
        repairsSkipped &+= other.repairsSkipped
        laneRefused &+= other.laneRefused
        mssClamped &+= other.mssClamped
        recoveryLatency.add(other.recoveryLatency)
    }

    /// The fraction of the peer's data packets that the WAN lost (rebuilt or not).
    public var lossRate: Double {
        let sent = dataFramesReceived + rebuilt + unrecoverable
        return sent == 0 ? 0 : Double(rebuilt + unrecoverable) / Double(sent)
    }
}

/// What the gateway counted for traffic that belongs to no peer.
public struct GatewayCounters: Sendable, Equatable {
    /// Datagrams from an address and port that is no configured peer.
    public var unknownSource: UInt64 = 0
    /// Packets read from the TUN device whose destination is behind no peer.
    public var noRoute: UInt64 = 0
    /// Multicast packets read from the TUN device (the kernel's own IPv6 housekeeping): dropped.
    public var multicastDropped: UInt64 = 0
    /// Packets read from the TUN device that were not IP or were larger than the TUN MTU.
    public var badPackets: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Adds `other`'s counts to these.
    public mutating func add(_ other: GatewayCounters) {
        unknownSource &+= other.unknownSource
        noRoute &+= other.noRoute
        multicastDropped &+= other.multicastDropped
        badPackets &+= other.badPackets
    }
}
