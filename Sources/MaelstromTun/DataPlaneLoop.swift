import MaelstromCore
import MaelstromSecurity

/// One lane's packet loop: its packet device and datagram transport driving its `Gateway`.
///
/// How a turn goes:
/// 1. wait until the device or the transport is ready, or the gateway's next deadline;
/// 2. if frames were left pending on a full socket queue, send them now that it is writable;
/// 3. receive datagrams (a few batches at most): decode, queue the packets for the device, write
///    them (coalesced where the device can) before the datagram slots are reused;
/// 4. unless sends are pending, read packets (a few batches at most): encode, build each data
///    frame in front of its packet, send the batch before the packet slots are reused;
/// 5. run the gateway's timers (flushes, keepalives, expiry) and publish counters once a second.
/// With security, every frame is sealed as it is queued and every datagram opened (authenticated,
/// replay-checked, decrypted in place) before the gateway sees it; handshake messages go to the
/// shared `SecureTunnel`, whose timers lane 0 runs. A lane adopts new sessions at the start of a turn.
/// Bounded batches per turn keep either direction from starving the other, and nothing waits on
/// a full socket: the loop watches for writability instead and goes on receiving.
///
/// Generic over its seams, so unit tests and `bench dataplane` run it on in-memory fakes and the
/// daemon on a TUN queue and a UDP socket. Owned by one thread; allocates nothing per packet.
public final class DataPlaneLoop<Device: PacketDevice, Transport: DatagramTransport, Waiter: ReadinessWaiter, Clock: DataPlaneClock> {
    /// The lane this loop runs.
    public var lane: LaneID { gateway.lane }
    /// The lane's gateway logic.
    public let gateway: Gateway
    /// Stops the loop from any thread.
    public let control: DataPlaneControl

    let device: Device
    let transport: Transport
    let waiter: Waiter
    let clock: Clock
    let packets: PacketBatch
    let datagrams: DatagramBatch
    let sender: LaneSender<Transport>
    private let board: SnapshotBoard
    private let onEvent: @Sendable (GatewayEvent) -> Void
    private let counters: UnsafeMutablePointer<DataPlaneCounters>
    private let publishInterval: UInt64
    private var nextPublish: UInt64 = 0
    private var output: LaneOutput<Device, Transport>
    /// Sealing and opening (nil under `security: none`).
    public let security: LaneSecurity?
    private let runsHandshakeTimers: Bool
    /// After a turn that moved packets, the loop polls without sleeping for this long: a reply
    /// that comes back within the window is handled without the wakeup latency of a sleeping
    /// thread (tens of microseconds on a busy machine), at the cost of that much CPU after each burst.
    private let spinNanoseconds: UInt64
    private var lastActivity: UInt64 = 0

    /// Bounds the work done for one side before the other is looked at again.
    static var batchesPerTurn: Int { 8 }
    /// The longest wait, so a stop request without a wakeup is still seen.
    static var maxWaitNanoseconds: UInt64 { 100_000_000 }

    /// Prepares the loop; `peerAddresses[i]` is where peer `i`'s frames go.
    public init(
        gateway: Gateway, device: Device, transport: Transport, waiter: Waiter, clock: Clock,
        peerAddresses: [SocketAddress], board: SnapshotBoard, control: DataPlaneControl,
        packetBatch: Int = 128, datagramBatch: Int = 128, publishIntervalNanoseconds: UInt64 = 1_000_000_000,
        stallNanoseconds: UInt64 = 200_000_000, spinNanoseconds: UInt64 = 0, security: LaneSecurity? = nil,
        onEvent: @escaping @Sendable (GatewayEvent) -> Void = { _ in }
    ) {
        precondition((security == nil) == (gateway.settings.framing == .plaintext), "sealed framing needs a lane security, plaintext none")
        self.security = security
        runsHandshakeTimers = security != nil && gateway.lane == 0
        self.spinNanoseconds = spinNanoseconds
        self.gateway = gateway
        self.device = device
        self.transport = transport
        self.waiter = waiter
        self.clock = clock
        self.board = board
        self.control = control
        self.onEvent = onEvent
        self.publishInterval = publishIntervalNanoseconds
        let mtu = gateway.settings.tunMTU
        packets = PacketBatch(capacity: packetBatch, slotSize: mtu)
        datagrams = DatagramBatch(capacity: datagramBatch, slotSize: mtu + WireFormat.maxHeaderSize + 64)
        counters = .allocate(capacity: 1)
        counters.initialize(to: DataPlaneCounters())
        // Every data frame of a full packet batch, the repairs it completes, and keepalives; the
        // copied ones (repairs, keepalives) get slots large enough for a whole frame.
        let outgoing = OutgoingBatch(capacity: packetBatch * 2 + 64, headerCapacity: mtu + WireFormat.maxHeaderSize + 64)
        sender = LaneSender(batch: outgoing, transport: transport, counters: counters, stallNanoseconds: stallNanoseconds)
        output = LaneOutput(sender: sender, device: device, peerAddresses: peerAddresses, security: security)
        nextPublish = clock.now()
    }

    deinit { counters.deallocate() }

    /// Runs until `control.requestStop()`; then flushes partial bins and publishes a last snapshot.
    public func run() throws(IOError) {
        while !control.isStopRequested { try turn() }
        try finish()
    }

    /// One turn of the loop (see the type's documentation).
    public func turn() throws(IOError) {
        let before = clock.now()
        var deadline = min(gateway.nextDeadline, nextPublish)
        if runsHandshakeTimers, let tunnel = security?.tunnel { deadline = min(deadline, tunnel.nextDeadline) }
        var timeout = deadline <= before ? 0 : min(deadline - before, Self.maxWaitNanoseconds)
        if spinNanoseconds > 0 && before &- lastActivity < spinNanoseconds { timeout = 0 }
        let ready = try waiter.wait(timeoutNanoseconds: timeout, transportWritable: sender.isBlocked)
        if ready.contains(.transportReadable) || ready.contains(.deviceReadable) { lastActivity = before }
        var now = clock.now()
        sender.now = now
        if let security { security.refresh { peer in gateway.announce(peer: peer, now: now, into: &output) } }
        if sender.isBlocked { try sender.flush(now: now) }
        if ready.contains(.transportReadable) { try receiveDatagrams() }
        if ready.contains(.deviceReadable) && !sender.isBlocked { try readPackets() }
        now = clock.now()
        sender.now = now
        if runsHandshakeTimers, let tunnel = security?.tunnel, now >= tunnel.nextDeadline {
            tunnel.tick(now: now, wallNanoseconds: clock.wallNanoseconds()) { peer, message in output.sendHandshake(message, toPeer: peer) }
            try sender.flush(now: now)
        }
        if now >= gateway.nextDeadline {
            gateway.tick(now: now, into: &output)
            try sender.flush(now: now)
        }
        if now >= nextPublish {
            publish(now: now)
            nextPublish = now &+ publishInterval
            adoptOtherLanesEvidence()
            try sender.flush(now: now)
        }
    }

    /// Hands each peer's policy on this lane, while it has judged nothing of its own, the window
    /// another lane judged on the same path (the one with the most packets): once a second,
    /// through the snapshots the lanes publish, so no state is shared on the packet path.
    private func adoptOtherLanesEvidence() {
        let peers = gateway.settings.peers.indices.filter { gateway.wantsPathEvidence(peer: PeerID($0)) }
        guard !peers.isEmpty else { return }
        let lanes = board.readLanes()
        for index in peers {
            var best: PathEvidence? = nil
            for (lane, snapshot) in lanes.enumerated() where lane != gateway.lane.index {
                guard let snapshot, index < snapshot.peers.count, let evidence = snapshot.peers[index].fec.pathEvidence else { continue }
                if evidence.window.expected > (best?.window.expected ?? 0) { best = evidence }
            }
            if let best { gateway.adopt(pathEvidence: best, peer: PeerID(index), into: &output) }
        }
    }

    /// Sends the repairs of every partly filled bin and publishes a last snapshot.
    public func finish() throws(IOError) {
        gateway.flush(into: &output)
        try sender.flush(now: clock.now())
        publish(now: clock.now())
    }

    private func readPackets() throws(IOError) {
        for _ in 0..<Self.batchesPerTurn {
            let count = try device.readBatch(into: packets)
            guard count > 0 else { return }
            let now = clock.now()
            sender.now = now
            for index in 0..<count {
                gateway.outbound(packets.buffer(index), now: now, into: &output)
            }
            // The data frames point into the packet slots: send before the next read reuses them.
            guard try sender.flush(now: now) else { return }
            if count < packets.capacity { return }
        }
    }

    private func receiveDatagrams() throws(IOError) {
        for _ in 0..<Self.batchesPerTurn {
            let count = try transport.receiveBatch(into: datagrams)
            guard count > 0 else { return }
            let now = clock.now()
            sender.now = now
            for index in 0..<count {
                guard let source = datagrams.source(at: index), let endpoint = source.endpoint else { continue }
                guard let security else {
                    gateway.inbound(datagrams[index], from: endpoint, now: now, into: &output)
                    continue
                }
                receiveSealed(datagrams[index], from: endpoint, security: security, now: now)
            }
            // Delivered packets point into the datagram slots (and the decoders' windows).
            try device.flushWrites()
            try sender.flush(now: now)
            if count < datagrams.capacity { return }
        }
    }

    /// Opens one datagram in place and hands what it holds to the gateway or the tunnel.
    @inline(__always)
    private func receiveSealed(_ bytes: UnsafeRawBufferPointer, from endpoint: Endpoint, security: LaneSecurity, now: UInt64) {
        guard let peer = gateway.peerTable.peer(at: endpoint) else {
            // Counted by the gateway as from an unknown source; nothing is decrypted for it.
            gateway.inbound(bytes, from: endpoint, now: now, into: &output)
            return
        }
        // A repair whose packets have all arrived is dropped before it costs a decryption.
        if bytes.count >= WireFormat.envelopeSize + WireFormat.repairHeaderSize, let base = bytes.baseAddress,
            base.load(fromByteOffset: 1, as: UInt8.self) == FrameType.repair.rawValue,
            base.load(fromByteOffset: 3, as: UInt8.self) == WireFormat.sealedFlag,
            case .repair(let header, _)? = try? Frame.parseBody(
                .repair, header: base + WireFormat.envelopeSize,
                payload: UnsafeRawBufferPointer(rebasing: bytes[(WireFormat.envelopeSize + WireFormat.repairHeaderSize)...])),
            gateway.skipsRepair(header, fromPeer: peer, lane: LaneID(base.load(fromByteOffset: 2, as: UInt8.self)))
        {
            return
        }
        // The datagram lies in this lane's receive slot, which it owns until the next receive.
        let datagram = UnsafeMutableRawBufferPointer(mutating: bytes)
        switch security.open(datagram, peer: peer, now: now) {
        case .frame(let frame):
            gateway.inbound(frame, from: endpoint, now: now, into: &output)
        case .handshake:
            security.tunnel.receive(
                handshake: bytes, from: peer, source: endpoint, now: now, wallNanoseconds: clock.wallNanoseconds()
            ) { peer, message in output.sendHandshake(message, toPeer: peer) }
            // A completed handshake: seal with the new session from the next frame on.
            security.refresh { peer in gateway.announce(peer: peer, now: now, into: &output) }
        case .unknownSession:
            security.reportUnknownSession(peer: peer, now: now, wallNanoseconds: clock.wallNanoseconds()) { peer, message in
                output.sendHandshake(message, toPeer: peer)
            }
        case .refused:
            break
        }
    }

    private func publish(now: UInt64) {
        let deviceCounters = device.deviceCounters
        let transportCounters = transport.transportCounters
        counters.pointee.packetsRead = deviceCounters.packetsRead
        counters.pointee.superSegmentsRead = deviceCounters.superSegmentsRead
        counters.pointee.tunReadTruncated = deviceCounters.readDropped
        counters.pointee.packetsWritten = deviceCounters.packetsWritten
        counters.pointee.coalescedWrites = deviceCounters.coalescedWrites
        counters.pointee.tunWriteDropped = deviceCounters.writeDropped &+ deviceCounters.writeQueueFull
        counters.pointee.datagramsReceived = transportCounters.received
        counters.pointee.udpReceiveTruncated = transportCounters.receiveTruncated
        counters.pointee.datagramsSent = transportCounters.sent
        counters.pointee.udpSendRefused = transportCounters.sendRefused
        counters.pointee.segmentedSends = transportCounters.segmentedSends
        counters.pointee.coalescedReceives = transportCounters.coalescedReceives
        counters.pointee.segmentationFallbacks = transportCounters.segmentationFallbacks
        counters.pointee.tunOffloads = deviceCounters.offloadBits
        var snapshot = gateway.snapshot(dataPlane: counters.pointee, now: now)
        if let security {
            for index in snapshot.peers.indices {
                snapshot.peers[index].security.sealing = security.counters(peer: PeerID(index))
                if runsHandshakeTimers { snapshot.peers[index].security.handshake = security.tunnel.counters(peer: PeerID(index)) }
            }
        }
        board.publish(snapshot, lane: gateway.lane)
        for event in gateway.takeEvents() { onEvent(event) }
    }

    /// The data-plane counters as of now (the loop's thread only).
    public var dataPlaneCounters: DataPlaneCounters { counters.pointee }
}
