/// Counters of the I/O around the gateway logic: what the devices and sockets did and refused.
public struct DataPlaneCounters: Sendable, Equatable {
    /// Packets read from the TUN device (after splitting super-segments).
    public var packetsRead: UInt64 = 0
    /// TUN reads that returned a TCP or UDP super-segment, split in user space.
    public var superSegmentsRead: UInt64 = 0
    /// Packets read from the TUN device that were cut short or malformed (offload header), dropped.
    public var tunReadTruncated: UInt64 = 0
    /// Packets written to the TUN device.
    public var packetsWritten: UInt64 = 0
    /// TUN writes that carried several packets coalesced into one super-segment.
    public var coalescedWrites: UInt64 = 0
    /// Packets the TUN device refused to take.
    public var tunWriteDropped: UInt64 = 0
    /// Datagrams received.
    public var datagramsReceived: UInt64 = 0
    /// Datagrams larger than the receive slot, dropped.
    public var udpReceiveTruncated: UInt64 = 0
    /// Datagrams handed to the kernel.
    public var datagramsSent: UInt64 = 0
    /// Datagrams the kernel refused to send (unreachable, too big…).
    public var udpSendRefused: UInt64 = 0
    /// Segmented sends (`UDP_SEGMENT`) made.
    public var segmentedSends: UInt64 = 0
    /// Coalesced receive runs (`UDP_GRO`) split.
    public var coalescedReceives: UInt64 = 0
    /// Times the kernel refused segmented sends and the socket went back to plain ones.
    public var segmentationFallbacks: UInt64 = 0
    /// Times the socket's send queue was full and the lane waited for it to drain (EPOLLOUT).
    public var sendBlocked: UInt64 = 0
    /// Frames dropped because the send queue was full and the lane's own batch too.
    public var sendQueueDrops: UInt64 = 0
    /// Frames dropped because the send queue stayed full for longer than the stall limit.
    public var sendStallDrops: UInt64 = 0
    /// `sendmmsg` calls made.
    public var sendBatches: UInt64 = 0
    /// The TUN offloads in use (a gauge, not a count): 1 virtio-net header, 2 TSO, 4 USO.
    public var tunOffloads: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Adds `other`'s counts to these.
    public mutating func add(_ other: DataPlaneCounters) {
        packetsRead &+= other.packetsRead
        superSegmentsRead &+= other.superSegmentsRead
        tunReadTruncated &+= other.tunReadTruncated
        packetsWritten &+= other.packetsWritten
        coalescedWrites &+= other.coalescedWrites
        tunWriteDropped &+= other.tunWriteDropped
        datagramsReceived &+= other.datagramsReceived
        udpReceiveTruncated &+= other.udpReceiveTruncated
        datagramsSent &+= other.datagramsSent
        udpSendRefused &+= other.udpSendRefused
        segmentedSends &+= other.segmentedSends
        coalescedReceives &+= other.coalescedReceives
        segmentationFallbacks &+= other.segmentationFallbacks
        sendBlocked &+= other.sendBlocked
        sendQueueDrops &+= other.sendQueueDrops
        sendStallDrops &+= other.sendStallDrops
        sendBatches &+= other.sendBatches
        tunOffloads = max(tunOffloads, other.tunOffloads)
    }
}

/// A copy of everything a running gateway counts, taken by its packet thread for others to read.
public struct GatewaySnapshot: Sendable, Equatable {
    /// One peer's view.
    public struct Peer: Sendable, Equatable {
        /// The peer's name.
        public var name: String
        /// Its endpoint.
        public var endpoint: Endpoint
        /// Whether it was heard from within the peer timeout.
        public var up: Bool
        /// The last keepalive round-trip time, in nanoseconds.
        public var roundTripNanoseconds: UInt64?
        /// Its counters.
        public var counters: PeerCounters
        /// Its handshakes and sealed frames (zero under `security: none`).
        public var security = PeerSecurityCounters()
        /// What the FEC policy and the loss meters say (added up over lanes).
        public var fec = PeerFECView()

        /// Creates a peer view.
        public init(name: String, endpoint: Endpoint, up: Bool, roundTripNanoseconds: UInt64?, counters: PeerCounters) {
            self.name = name
            self.endpoint = endpoint
            self.up = up
            self.roundTripNanoseconds = roundTripNanoseconds
            self.counters = counters
        }
    }

    /// Per-peer views, in configuration order.
    public var peers: [Peer]
    /// Traffic that belongs to no peer.
    public var gateway: GatewayCounters
    /// What the devices and sockets refused.
    public var dataPlane: DataPlaneCounters
    /// When it was taken, on the monotonic clock, in nanoseconds.
    public var takenAtNanoseconds: UInt64
    /// How many lanes it adds up.
    public var lanes = 1

    /// Creates a snapshot.
    public init(peers: [Peer], gateway: GatewayCounters, dataPlane: DataPlaneCounters, takenAtNanoseconds: UInt64) {
        self.peers = peers
        self.gateway = gateway
        self.dataPlane = dataPlane
        self.takenAtNanoseconds = takenAtNanoseconds
    }
}

extension GatewaySnapshot {
    /// One snapshot of several lanes: counters added up, a peer up when any lane hears it, the
    /// smallest round-trip time any lane measured, the latest time taken.
    public static func merging(_ lanes: [GatewaySnapshot]) -> GatewaySnapshot? {
        guard var merged = lanes.first else { return nil }
        for lane in lanes.dropFirst() {
            for index in merged.peers.indices where index < lane.peers.count {
                let other = lane.peers[index]
                merged.peers[index].up = merged.peers[index].up || other.up
                if let rtt = other.roundTripNanoseconds {
                    merged.peers[index].roundTripNanoseconds = min(merged.peers[index].roundTripNanoseconds ?? .max, rtt)
                }
                merged.peers[index].counters.add(other.counters)
                merged.peers[index].security.add(other.security)
                merged.peers[index].fec.add(other.fec)
            }
            merged.gateway.add(lane.gateway)
            merged.dataPlane.add(lane.dataPlane)
            merged.takenAtNanoseconds = max(merged.takenAtNanoseconds, lane.takenAtNanoseconds)
            merged.lanes += lane.lanes
        }
        return merged
    }
}

/// One peer's adaptive-FEC state: the code in use and the loss measured on its streams.
public struct PeerFECView: Sendable, Equatable {
    /// The nominal overhead (`c / r`) of the codes in use, times each lane's data frames sent,
    /// added over the lanes: a lane that carries a trickle (a control connection) keeps its
    /// starting code, since it never gathers enough to report on, and must not weigh like the bulk.
    public var overheadSum = 0.0
    /// The residual the policy predicted for its code, weighted the same way.
    public var predictedResidualSum = 0.0
    /// Data frames sent to the peer, added over the lanes: the weight of the sums.
    public var weight = 0.0
    /// Loss measured over the last second, ten seconds and minute.
    public var lastSecond = LossWindow()
    public var lastTenSeconds = LossWindow()
    public var lastMinute = LossWindow()
    /// The last window the adaptive policy judged outside congestion, of the peer's reports on
    /// this gateway's streams (the lane's, or across lanes the one with the most packets): what the
    /// path to the peer loses, which a lane that has judged nothing yet takes (`Gateway.adopt`).
    public var pathEvidence: PathEvidence? = nil

    /// An empty view.
    public init() {}

    /// The lanes' codes' nominal overhead, weighted by the data frames each has sent.
    public var overhead: Double { weight == 0 ? 0 : overheadSum / weight }
    /// The predicted residual, weighted the same way.
    public var predictedResidual: Double { weight == 0 ? 0 : predictedResidualSum / weight }

    /// Adds another lane's view.
    public mutating func add(_ other: PeerFECView) {
        overheadSum += other.overheadSum
        predictedResidualSum += other.predictedResidualSum
        weight += other.weight
        lastSecond.add(other.lastSecond)
        lastTenSeconds.add(other.lastTenSeconds)
        lastMinute.add(other.lastMinute)
        if let theirs = other.pathEvidence, theirs.window.expected > (pathEvidence?.window.expected ?? 0) { pathEvidence = theirs }
    }
}

extension Gateway {
    /// Copies the counters of every peer (allocates: call it about once a second, not per packet).
    public func snapshot(dataPlane: DataPlaneCounters, now: UInt64) -> GatewaySnapshot {
        GatewaySnapshot(
            peers: settings.peers.indices.map { index in
                let peer = PeerID(index)
                var view = GatewaySnapshot.Peer(
                    name: settings.peers[index].name, endpoint: settings.peers[index].endpoint, up: isUp(peer: peer),
                    roundTripNanoseconds: roundTripNanoseconds(peer: peer), counters: counters(peer: peer))
                var fec = PeerFECView()
                // Weighted by the traffic: an idle lane keeps its starting code (it hears no
                // reports) but sends no repairs either.
                let weight = Double(view.counters.dataFramesSent)
                fec.overheadSum = code(peer: peer).nominalOverhead * weight
                fec.predictedResidualSum = predictedResidual(peer: peer) * weight
                fec.weight = weight
                fec.lastSecond = measuredLoss(peer: peer, nanoseconds: 1_000_000_000, now: now)
                fec.lastTenSeconds = measuredLoss(peer: peer, nanoseconds: 10_000_000_000, now: now)
                fec.lastMinute = measuredLoss(peer: peer, nanoseconds: 60_000_000_000, now: now)
                fec.pathEvidence = pathEvidence(peer: peer)
                view.fec = fec
                return view
            },
            gateway: counters, dataPlane: dataPlane, takenAtNanoseconds: now)
    }
}
