/// The gateway logic: routes TUN packets to peers through their encoders, accepts peer datagrams
/// through their decoders, and keeps peers' liveness with keepalives.
///
/// A state machine fed with packets, datagrams and the time, returning what to send and deliver
/// through a `GatewayOutput`; it makes no syscalls and reads no clock, so the daemon, the tests
/// and simulations run the same code. Not thread-safe: owned by the packet thread. Allocates
/// nothing per packet.
public final class Gateway {
    /// The settings it runs with.
    public let settings: GatewaySettings
    /// Destination and source lookup.
    public let peerTable: PeerTable
    /// Traffic that belongs to no peer.
    public private(set) var counters = GatewayCounters()

    private let peers: [PeerState]
    private let keepalive: UnsafeMutableRawPointer
    private let ipv4MSS: Int
    private let ipv6MSS: Int
    private var events: [GatewayEvent] = []

    /// Creates the gateway; `streams` holds one fresh random stream identity per peer.
    public init(settings: GatewaySettings, streams: [StreamID], now: UInt64) {
        precondition(streams.count == settings.peers.count, "one stream identity per peer")
        self.settings = settings
        self.peerTable = PeerTable(peers: settings.peers)
        // A peer stream silent for the peer timeout is gone: frames alone may then confirm another.
        var decoderParameters = settings.decoder
        decoderParameters.streamConfirmation.silenceNanoseconds = settings.peerTimeoutNanoseconds
        self.peers = settings.peers.indices.map { index in
            PeerState(
                encoder: LayeredEncoder(parameters: settings.fec, stream: streams[index]),
                decoder: LayeredDecoder(parameters: decoderParameters),
                nextKeepalive: now)
        }
        keepalive = .allocate(byteCount: WireFormat.keepaliveSize, alignment: 8)
        ipv4MSS = settings.tunMTU - 40
        ipv6MSS = settings.tunMTU - 60
        events.reserveCapacity(16)
    }

    deinit { keepalive.deallocate() }

    /// Number of peers.
    public var peerCount: Int { peers.count }

    /// Handles a packet read from the TUN device: clamps a SYN's MSS, encodes it for its peer.
    public func outbound<Output: GatewayOutput>(
        _ packet: UnsafeMutableRawBufferPointer, now: UInt64, into output: inout Output
    ) {
        guard packet.count <= settings.tunMTU, let destination = IPPacket.destination(of: UnsafeRawBufferPointer(packet))
        else {
            counters.badPackets &+= 1
            return
        }
        guard let peer = peerTable.peer(for: destination) else {
            // The kernel's own multicast (IPv6 router solicitations, MLD) is expected, not an error.
            if destination.isMulticast { counters.multicastDropped &+= 1 } else { counters.noRoute &+= 1 }
            return
        }
        let state = peers[peer]
        if settings.clampMSS && MSSClamp.clamp(packet, ipv4MSS: ipv4MSS, ipv6MSS: ipv6MSS) {
            state.counters.mssClamped &+= 1
        }
        // The receiver switches to a new stream on the word of a keepalive naming it: let the
        // keepalive go first, so the stream's first packets are not held waiting for one.
        if !state.announced { sendKeepalive(peer, state: state, now: now, into: &output) }
        withUnsafeMutablePointer(to: &output) { output in
            var sink = PeerFrameSink(output: output, peer: peer)
            state.encoder.encode(UnsafeRawBufferPointer(packet), now: now, into: &sink)
        }
    }

    /// Handles a datagram received from `source`: only a configured peer's frames are used.
    public func inbound<Output: GatewayOutput>(
        _ datagram: UnsafeRawBufferPointer, from source: Endpoint, now: UInt64, into output: inout Output
    ) {
        guard let peer = peerTable.peer(at: source) else {
            counters.unknownSource &+= 1
            return
        }
        let state = peers[peer]
        let frame: Frame
        do {
            frame = try Frame.parse(datagram)
        } catch {
            state.counters.malformed &+= 1
            return
        }
        heard(peer, state: state, now: now, into: &output)
        withUnsafeMutablePointer(to: &output) { output in
            var sink = PeerDeliverySink(output: output, peer: peer, state: state)
            switch frame {
            case .data(let header, let payload):
                state.counters.dataFramesReceived &+= 1
                state.counters.dataBytesReceived &+= UInt64(payload.count)
                state.decoder.receiveData(header, payload: payload, now: now, into: &sink)
            case .repair(let header, let payload):
                state.counters.repairFramesReceived &+= 1
                state.decoder.receiveRepair(header, payload: payload, now: now, into: &sink)
            case .keepalive(let keepalive):
                state.counters.keepalivesReceived &+= 1
                state.peerTimestamp = keepalive.timestamp
                state.peerTimestampReceivedAt = now
                if keepalive.echoedTimestamp != 0 && keepalive.echoedTimestamp <= now {
                    state.roundTripNanoseconds = now - keepalive.echoedTimestamp
                }
                state.decoder.receiveKeepalive(keepalive, now: now, into: &sink)
            }
        }
        if state.decoder.counters.streamRestarts != state.reportedRestarts {
            state.reportedRestarts = state.decoder.counters.streamRestarts
            events.append(.peerRestarted(peer: peer))
        }
    }

    /// Runs what is due at `now`: bin flushes, decoder expiry, keepalives, peer timeouts.
    public func tick<Output: GatewayOutput>(now: UInt64, into output: inout Output) {
        for peer in peers.indices {
            let state = peers[peer]
            withUnsafeMutablePointer(to: &output) { output in
                var sink = PeerFrameSink(output: output, peer: peer)
                state.encoder.tick(now: now, into: &sink)
            }
            state.decoder.tick(now: now)
            if now >= state.nextKeepalive { sendKeepalive(peer, state: state, now: now, into: &output) }
            if state.up && now >= state.lastHeard && now - state.lastHeard > settings.peerTimeoutNanoseconds {
                state.up = false
                events.append(.peerDown(peer: peer))
            }
        }
    }

    /// The time by which `tick` must run next.
    public var nextDeadline: UInt64 {
        var deadline = UInt64.max
        for state in peers {
            deadline = min(deadline, state.nextKeepalive)
            if let flush = state.encoder.nextDeadline { deadline = min(deadline, flush) }
            if let expiry = state.decoder.nextDeadline { deadline = min(deadline, expiry) }
            if state.up { deadline = min(deadline, state.lastHeard.saturatingAdd(settings.peerTimeoutNanoseconds).saturatingAdd(1)) }
        }
        return deadline
    }

    /// Sends the repairs of every partly filled bin, as before an orderly shutdown.
    public func flush<Output: GatewayOutput>(into output: inout Output) {
        for peer in peers.indices {
            withUnsafeMutablePointer(to: &output) { output in
                var sink = PeerFrameSink(output: output, peer: peer)
                peers[peer].encoder.flush(into: &sink)
            }
        }
    }

    /// Takes the events noticed since the last call (peer up, down, restarted).
    public func takeEvents() -> [GatewayEvent] {
        guard !events.isEmpty else { return [] }
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// The counters of peer `peer`, with its encoder's and decoder's folded in.
    public func counters(peer: Int) -> PeerCounters {
        let state = peers[peer]
        var counters = state.counters
        let encoder = state.encoder.counters
        let decoder = state.decoder.counters
        counters.dataFramesSent = encoder.dataFrames
        counters.dataBytesSent = encoder.dataBytes
        counters.repairFramesSent = encoder.repairFrames
        counters.repairBytesSent = encoder.repairBytes
        counters.rebuilt = decoder.rebuilt
        counters.unrecoverable = decoder.unrecoverable
        counters.duplicates = decoder.duplicates
        counters.late = decoder.late
        counters.streamRestarts = decoder.streamRestarts
        counters.staleStreamFrames = decoder.staleStreamFrames
        counters.unconfirmedStreamFrames = decoder.unconfirmedStreamFrames
        counters.farJumpsRefused = decoder.farJumpsRefused
        counters.staleKeepalives = decoder.staleKeepalives
        counters.repairsDropped = decoder.repairsDropped
        counters.malformed = state.counters.malformed &+ decoder.malformed
        return counters
    }

    /// Whether peer `peer` has been heard from within the peer timeout.
    public func isUp(peer: Int) -> Bool { peers[peer].up }

    /// The last round-trip time measured with keepalives to peer `peer`, in nanoseconds.
    public func roundTripNanoseconds(peer: Int) -> UInt64? { peers[peer].roundTripNanoseconds }

    /// The stream identity of this gateway's encoder for peer `peer`.
    public func stream(peer: Int) -> StreamID { peers[peer].encoder.stream }

    private func heard<Output: GatewayOutput>(_ peer: Int, state: PeerState, now: UInt64, into output: inout Output) {
        state.lastHeard = now
        guard !state.up else { return }
        state.up = true
        events.append(.peerUp(peer: peer))
        // Answer at once, so a peer that has just come up learns of us without waiting an interval.
        sendKeepalive(peer, state: state, now: now, into: &output)
    }

    private func sendKeepalive<Output: GatewayOutput>(_ peer: Int, state: PeerState, now: UInt64, into output: inout Output) {
        let echo = state.peerTimestamp == 0 ? 0 : state.peerTimestamp &+ (now &- state.peerTimestampReceivedAt)
        KeepaliveFrame(
            stream: state.encoder.stream,
            nextSequence: UInt32(truncatingIfNeeded: state.encoder.nextSequence),
            decodingStream: state.decoder.currentStream ?? StreamID(0),
            timestamp: max(now, 1),
            echoedTimestamp: echo
        ).write(to: keepalive)
        output.send(
            header: UnsafeRawBufferPointer(start: keepalive, count: WireFormat.keepaliveSize),
            payload: UnsafeRawBufferPointer(start: nil, count: 0), toPeer: peer)
        state.counters.keepalivesSent &+= 1
        state.announced = true
        state.nextKeepalive = now.saturatingAdd(settings.keepaliveIntervalNanoseconds)
    }
}
