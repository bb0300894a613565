/// Counters of the I/O around the gateway logic: what the devices and sockets refused.
public struct DataPlaneCounters: Sendable, Equatable {
    /// Packets read from the TUN device that were cut short (larger than the read slot) and dropped.
    public var tunReadTruncated: UInt64 = 0
    /// Packets the TUN device refused to take.
    public var tunWriteDropped: UInt64 = 0
    /// Datagrams larger than the receive slot, dropped.
    public var udpReceiveTruncated: UInt64 = 0
    /// Datagrams the kernel refused to send (unreachable, too big…).
    public var udpSendRefused: UInt64 = 0
    /// Datagrams dropped because the socket's send queue stayed full.
    public var sendQueueDrops: UInt64 = 0
    /// `sendmmsg` calls made.
    public var sendBatches: UInt64 = 0
    /// Datagrams received.
    public var datagramsReceived: UInt64 = 0
    /// Packets read from the TUN device.
    public var packetsRead: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}
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

    /// Creates a snapshot.
    public init(peers: [Peer], gateway: GatewayCounters, dataPlane: DataPlaneCounters, takenAtNanoseconds: UInt64) {
        self.peers = peers
        self.gateway = gateway
        self.dataPlane = dataPlane
        self.takenAtNanoseconds = takenAtNanoseconds
    }
}

extension Gateway {
    /// Copies the counters of every peer (allocates: call it about once a second, not per packet).
    public func snapshot(dataPlane: DataPlaneCounters, now: UInt64) -> GatewaySnapshot {
        GatewaySnapshot(
            peers: settings.peers.indices.map { index in
                GatewaySnapshot.Peer(
                    name: settings.peers[index].name, endpoint: settings.peers[index].endpoint, up: isUp(peer: index),
                    roundTripNanoseconds: roundTripNanoseconds(peer: index), counters: counters(peer: index))
            },
            gateway: counters, dataPlane: dataPlane, takenAtNanoseconds: now)
    }
}
