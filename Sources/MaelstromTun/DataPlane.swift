import MaelstromCore

/// The packet thread of a gateway: TUN device and UDP socket in one epoll loop driving `Gateway`.
///
/// TUN reads go through the gateway's encoders into a `sendmmsg` batch; datagrams received with
/// `recvmmsg` go through its decoders into TUN writes; the gateway's deadlines set the epoll
/// timeout. The clock is read once per batch, nothing is allocated per packet, and the counters
/// are published to a `SnapshotBoard` once a second. Create it, take its `control`, then call
/// `run()` on a dedicated thread (it owns everything passed in).
public final class DataPlane {
    /// Stops the loop from any thread.
    public let control: DataPlaneControl

    private let gateway: Gateway
    private let tun: TunDevice
    private let socket: UDPSocket
    private let peerAddresses: [SocketAddress]
    private let board: SnapshotBoard
    private let onEvent: @Sendable (GatewayEvent) -> Void
    private let loop: EventLoop
    private let packets: PacketBatch
    private let datagrams: DatagramBatch
    private let outgoing: OutgoingBatch
    private let counters: UnsafeMutablePointer<DataPlaneCounters>
    private let publishInterval: UInt64

    private static let tunToken = 0
    private static let socketToken = 1
    private static let wakeupToken = 2
    // Bounds the work done for one side before the other is looked at again.
    private static let batchesPerTurn = 8

    /// Prepares the loop; `peerAddresses[i]` is where peer `i`'s frames go.
    public init(
        gateway: Gateway, tun: TunDevice, socket: UDPSocket, peerAddresses: [SocketAddress], board: SnapshotBoard,
        batchSize: Int = 64, publishIntervalNanoseconds: UInt64 = 1_000_000_000,
        onEvent: @escaping @Sendable (GatewayEvent) -> Void
    ) throws(IOError) {
        self.gateway = gateway
        self.tun = tun
        self.socket = socket
        self.peerAddresses = peerAddresses
        self.board = board
        self.onEvent = onEvent
        self.publishInterval = publishIntervalNanoseconds
        let mtu = gateway.settings.tunMTU
        loop = try EventLoop(maxEvents: 8)
        control = DataPlaneControl(wakeup: try loop.makeWakeup(token: Self.wakeupToken))
        try loop.register(tun.fd, token: Self.tunToken)
        try loop.register(socket.fd, token: Self.socketToken)
        packets = PacketBatch(capacity: batchSize, slotSize: mtu + 64)
        datagrams = DatagramBatch(capacity: batchSize, slotSize: mtu + WireFormat.maxHeaderSize + 64)
        // Room for a whole repair frame in a header slot: repairs are copied, data frames are not.
        outgoing = OutgoingBatch(capacity: batchSize * 2, headerCapacity: mtu + WireFormat.maxHeaderSize + 64)
        counters = .allocate(capacity: 1)
        counters.initialize(to: DataPlaneCounters())
    }

    deinit {
        counters.deallocate()
    }

    /// Runs until `control.requestStop()`; then flushes partial bins and publishes a last snapshot.
    public func run() throws(IOError) {
        var output = DataPlaneOutput(
            batch: outgoing, socket: socket, tun: tun, peerAddresses: peerAddresses, counters: counters)
        var nextPublish = MonotonicClock.now()
        while !control.isStopRequested {
            let before = MonotonicClock.now()
            let deadline = min(gateway.nextDeadline, nextPublish)
            let timeout = deadline <= before ? 0 : min(deadline - before, 100_000_000)
            var tunReady = false
            var socketReady = false
            for event in try loop.wait(timeoutNanoseconds: timeout) {
                if event.token == Self.tunToken { tunReady = true }
                if event.token == Self.socketToken { socketReady = true }
            }
            if socketReady { try receiveDatagrams(into: &output) }
            if tunReady { try readPackets(into: &output) }
            let now = MonotonicClock.now()
            if now >= gateway.nextDeadline {
                gateway.tick(now: now, into: &output)
                output.flush()
            }
            if now >= nextPublish {
                publish(now: now)
                nextPublish = now + publishInterval
            }
        }
        gateway.flush(into: &output)
        output.flush()
        publish(now: MonotonicClock.now())
    }

    private func readPackets(into output: inout DataPlaneOutput) throws(IOError) {
        for _ in 0..<Self.batchesPerTurn {
            let count = try tun.readBatch(into: packets)
            guard count > 0 else { return }
            counters.pointee.packetsRead &+= UInt64(count)
            let now = MonotonicClock.now()
            for index in 0..<count {
                gateway.outbound(UnsafeMutableRawBufferPointer(mutating: packets[index]), now: now, into: &output)
            }
            // The data frames point into the packet slots: send before the next read reuses them.
            output.flush()
            if count < packets.capacity { return }
        }
    }

    private func receiveDatagrams(into output: inout DataPlaneOutput) throws(IOError) {
        for _ in 0..<Self.batchesPerTurn {
            let count = try socket.receiveBatch(into: datagrams)
            guard count > 0 else { return }
            counters.pointee.datagramsReceived &+= UInt64(count)
            let now = MonotonicClock.now()
            for index in 0..<count {
                guard let source = datagrams.source(at: index), let endpoint = source.endpoint else { continue }
                gateway.inbound(datagrams[index], from: endpoint, now: now, into: &output)
            }
            output.flush()
            if count < datagrams.capacity { return }
        }
    }

    private func publish(now: UInt64) {
        counters.pointee.tunReadTruncated = tun.counters.readTruncated
        counters.pointee.tunWriteDropped = tun.counters.writeDropped
        counters.pointee.udpReceiveTruncated = socket.counters.receiveTruncated
        counters.pointee.udpSendRefused = socket.counters.sendDropped
        board.publish(gateway.snapshot(dataPlane: counters.pointee, now: now))
        for event in gateway.takeEvents() { onEvent(event) }
    }
}

extension SocketAddress {
    /// The core's view of this address (address bytes and port).
    public var endpoint: Endpoint? {
        withUnsafeAddressBytes { bytes in IPAddress(bytes: bytes).map { Endpoint(address: $0, port: port) } }
    }

    /// The socket address of a core endpoint.
    public init?(_ endpoint: Endpoint) {
        self.init(addressBytes: endpoint.address.bytes, port: endpoint.port)
    }
}
