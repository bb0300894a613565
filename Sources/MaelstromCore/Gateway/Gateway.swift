/// The gateway logic of one lane: routes TUN packets to peers through their encoders, accepts peer
/// datagrams through their decoders, and keeps peers' liveness with keepalives.
///
/// A state machine fed with packets, datagrams and the time, returning what to send and deliver
/// through a `GatewayOutput`; it makes no syscalls and reads no clock, so the daemon, the tests
/// and simulations run the same code. A daemon with several lanes runs one `Gateway` per lane;
/// they share nothing. Not thread-safe: owned by its lane's thread. Allocates nothing per packet.
public final class Gateway {
    /// The settings it runs with.
    public let settings: GatewaySettings
    /// The lane it is: stamped on every frame it sends.
    public let lane: LaneID
    /// Destination and source lookup.
    public let peerTable: PeerTable
    /// Traffic that belongs to no peer.
    public private(set) var counters = GatewayCounters()

    private let sessions: [PeerSession]
    private let ipv4MSS: Int
    private let ipv6MSS: Int
    private var events: [GatewayEvent] = []

    /// Creates lane `lane`'s gateway; `streams` holds one fresh random stream identity per peer.
    public init(settings: GatewaySettings, lane: LaneID = 0, streams: [StreamID], now: UInt64) {
        precondition(streams.count == settings.peers.count, "one stream identity per peer")
        self.settings = settings
        self.lane = lane
        self.peerTable = PeerTable(peers: settings.peers)
        // A peer stream silent for the peer timeout is gone: frames alone may then confirm another.
        var decoderParameters = settings.decoder
        decoderParameters.streamConfirmation.silenceNanoseconds = settings.peerTimeoutNanoseconds
        let policy = AdaptivePolicy(settings: settings.adaptation, bound: settings.fec, decoderWindow: settings.decoder.windowPackets)
        self.sessions = settings.peers.indices.map { index in
            PeerSession(
                encoder: LayeredEncoder(parameters: settings.fec, stream: streams[index]),
                policy: policy, decoderParameters: decoderParameters, peerLanes: settings.peers[index].lanes, nextKeepalive: now)
        }
        ipv4MSS = settings.tunMTU - 40
        ipv6MSS = settings.tunMTU - 60
        events.reserveCapacity(16)
    }

    /// Number of peers.
    public var peerCount: Int { sessions.count }

    /// Every peer's identity, in configuration order.
    public var peerIDs: [PeerID] { sessions.indices.map { PeerID($0) } }

    /// Handles a packet read from the TUN device: clamps a SYN's MSS, encodes it for its peer.
    /// With headroom in front of the packet, its data frame is written there and sent in place.
    public func outbound<Output: GatewayOutput>(_ packet: PacketBuffer, now: UInt64, into output: inout Output) {
        let bytes = packet.bytes
        guard bytes.count <= settings.tunMTU, let destination = IPPacket.destination(of: UnsafeRawBufferPointer(bytes)) else {
            counters.badPackets &+= 1
            return
        }
        guard let peer = peerTable.peer(for: destination) else {
            // The kernel's own multicast (IPv6 router solicitations, MLD) is expected, not an error.
            if destination.isMulticast { counters.multicastDropped &+= 1 } else { counters.noRoute &+= 1 }
            return
        }
        let session = sessions[peer.index]
        if settings.clampMSS && MSSClamp.clamp(bytes, ipv4MSS: ipv4MSS, ipv6MSS: ipv6MSS) {
            session.counters.mssClamped &+= 1
        }
        // The receiver switches to a new stream on the word of a keepalive naming it: let the
        // keepalive go first, so the stream's first packets are not held waiting for one.
        if !session.announced { sendKeepalive(peer, session: session, now: now, into: &output) }
        // Data after a quiet spell: probe the queue one probe interval from now, not a keepalive
        // interval after the last one, or a new connection's slow start overflows the queue
        // before any probe can mark its drops as congestion (they would read as the link's loss).
        if now &+ AdaptationSettings.probeIntervalNanoseconds < session.nextKeepalive && settings.adaptation.mode == .adaptive {
            session.nextKeepalive = now &+ AdaptationSettings.probeIntervalNanoseconds
        }
        withUnsafeMutablePointer(to: &output) { output in
            var sink = PeerFrameSink(
                output: output, peer: peer, lane: lane, headroom: packet.headroom, tailroom: packet.tailroom,
                protection: settings.framing)
            session.encoder.encode(UnsafeRawBufferPointer(bytes), now: now, into: &sink)
            if session.draining != nil {
                var frames = PeerFrameSink(
                    output: output, peer: peer, lane: lane, headroom: 0, tailroom: 0, protection: settings.framing)
                session.drainStep(into: &frames)
            }
        }
    }

    /// Handles a packet without room around it (tests, tools): its frame is built in a copy.
    public func outbound<Output: GatewayOutput>(_ packet: UnsafeMutableRawBufferPointer, now: UInt64, into output: inout Output) {
        outbound(PacketBuffer(bytes: packet), now: now, into: &output)
    }

    /// Handles a datagram received from `source`: only a configured peer's frames are used.
    public func inbound<Output: GatewayOutput>(
        _ datagram: UnsafeRawBufferPointer, from source: Endpoint, now: UInt64, into output: inout Output
    ) {
        guard let peer = peerTable.peer(at: source) else {
            counters.unknownSource &+= 1
            return
        }
        let session = sessions[peer.index]
        let remoteLane: LaneID
        let frame: Frame
        do {
            (remoteLane, frame) = try Frame.parse(datagram, protection: settings.framing)
        } catch {
            session.counters.malformed &+= 1
            return
        }
        // A lane first heard through its frames (this gateway restarted) gets its decoder now:
        // its stream confirms itself after three frames when nothing else is decoded.
        guard let decoder = session.makeDecoder(for: remoteLane) else {
            session.counters.laneRefused &+= 1
            return
        }
        heard(peer, session: session, now: now, into: &output)
        withUnsafeMutablePointer(to: &output) { output in
            var sink = PeerDeliverySink(output: output, peer: peer, session: session)
            switch frame {
            case .data(let header, let payload):
                session.counters.dataFramesReceived &+= 1
                session.counters.dataBytesReceived &+= UInt64(payload.count)
                decoder.receiveData(header, payload: payload, now: now, into: &sink)
                session.meter(header, lane: remoteLane, decoder: decoder, now: now)
            case .repair(let header, let payload):
                session.counters.repairFramesReceived &+= 1
                decoder.receiveRepair(header, payload: payload, now: now, into: &sink)
            case .keepalive(let keepalive):
                session.counters.keepalivesReceived &+= 1
                session.peerTimestamp = keepalive.timestamp
                session.peerTimestampReceivedAt = now
                session.sampleQueue(sentAt: keepalive.timestamp, now: now)
                if keepalive.echoedTimestamp != 0 && keepalive.echoedTimestamp <= now {
                    session.roundTripNanoseconds = now - keepalive.echoedTimestamp
                    session.roundTripFloor.add(now - keepalive.echoedTimestamp, now: now)
                }
                decoder.receiveKeepalive(keepalive, now: now, into: &sink)
            case .lossReport(let report):
                session.counters.lossReportsReceived &+= 1
                guard report.stream == session.encoder.stream else {
                    session.counters.lossReportsIgnored &+= 1
                    break
                }
                if let code = session.policy.consider(
                    report, now: now, dataFramesSent: session.encoderCounters.dataFrames,
                    roundTripNanoseconds: session.roundTripFloor.value)
                {
                    switchCode(of: session, peer: peer, to: code, output: output)
                }
                if settings.recordsJudgements && session.policy.settings.mode == .adaptive {
                    events.append(.reportJudged(peer: peer, judgement: session.policy.judgement, code: session.policy.current))
                }
            }
        }
        if decoder.counters.streamRestarts != session.reportedRestarts[remoteLane.index] {
            session.reportedRestarts[remoteLane.index] = decoder.counters.streamRestarts
            events.append(.peerRestarted(peer: peer, lane: remoteLane))
        }
    }

    /// The last window this lane's adaptive policy for `peer` judged outside congestion.
    public func pathEvidence(peer: PeerID) -> PathEvidence? { sessions[peer.index].policy.pathEvidence }

    /// Whether this lane's adaptive policy for `peer` would take another lane's window (`adopt`):
    /// it has judged none of its own yet.
    public func wantsPathEvidence(peer: PeerID) -> Bool {
        sessions[peer.index].policy.takesPathEvidence
    }

    /// Gives this lane's adaptive policy for `peer` a window another lane judged on the same path
    /// (`AdaptivePolicy.adopt`): a lane that has judged nothing yet leaves its starting code for
    /// what the path needs. Switches the code (into `output`) and records the event if it changed.
    public func adopt<Output: GatewayOutput>(pathEvidence evidence: PathEvidence, peer: PeerID, into output: inout Output) {
        let session = sessions[peer.index]
        guard let code = session.policy.adopt(evidence) else { return }
        withUnsafeMutablePointer(to: &output) { output in switchCode(of: session, peer: peer, to: code, output: output) }
    }

    // Switches `session`'s encoder to the code its policy picked, the old one's frames into `output`,
    // and records the change.
    private func switchCode<Output: GatewayOutput>(
        of session: PeerSession, peer: PeerID, to code: FECParameters, output: UnsafeMutablePointer<Output>
    ) {
        var frames = PeerFrameSink(output: output, peer: peer, lane: lane, headroom: 0, tailroom: 0, protection: settings.framing)
        session.switchCode(to: code, flushingInto: &frames)
        events.append(.codeChanged(peer: peer, code: code, decision: session.policy.decision))
    }

    /// Whether a repair frame from `peer`'s lane `lane` with `header` would be thrown away (every
    /// member already here), so the lane need not authenticate and decrypt it. Counted as skipped.
    @inline(__always)
    public func skipsRepair(_ header: RepairFrameHeader, fromPeer peer: PeerID, lane: LaneID) -> Bool {
        let session = sessions[peer.index]
        guard lane.index < LaneID.maxLanes, let decoder = session.decoder(for: lane), decoder.isRedundant(header) else { return false }
        session.counters.repairsSkipped &+= 1
        return true
    }

    /// Runs what is due at `now`: bin flushes, decoder expiry, keepalives, peer timeouts.
    public func tick<Output: GatewayOutput>(now: UInt64, into output: inout Output) {
        for index in sessions.indices {
            let peer = PeerID(index)
            let session = sessions[index]
            withUnsafeMutablePointer(to: &output) { output in
                var sink = PeerFrameSink(output: output, peer: peer, lane: lane, headroom: 0, tailroom: 0, protection: settings.framing)
                session.encoder.tick(now: now, into: &sink)
                session.tickDraining(now: now, into: &sink)
            }
            session.tickDecoders(now: now)
            if now >= session.nextReport { sendLossReports(peer, session: session, now: now, into: &output) }
            if now >= session.nextKeepalive { sendKeepalive(peer, session: session, now: now, into: &output) }
            if session.up && now >= session.lastHeard && now - session.lastHeard > settings.peerTimeoutNanoseconds {
                session.up = false
                events.append(.peerDown(peer: peer))
            }
        }
    }

    /// Sends peer `peer` a keepalive now, as when a new session with it has just been set up: its
    /// decoders learn this lane's stream without waiting an interval.
    public func announce<Output: GatewayOutput>(peer: PeerID, now: UInt64, into output: inout Output) {
        sendKeepalive(peer, session: sessions[peer.index], now: now, into: &output)
    }

    /// The time by which `tick` must run next.
    public var nextDeadline: UInt64 {
        var deadline = UInt64.max
        // Index loops: iterating an array of a class in a debug build allocates per element.
        for index in sessions.indices {
            let session = sessions[index]
            deadline = min(deadline, session.nextKeepalive)
            if session.up { deadline = min(deadline, session.nextReport) }
            if let flush = session.encoder.nextDeadline { deadline = min(deadline, flush) }
            if let flush = session.draining?.nextDeadline { deadline = min(deadline, flush) }
            deadline = min(deadline, session.earliestDecoderDeadline())
            if session.up {
                deadline = min(deadline, session.lastHeard.saturatingAdd(settings.peerTimeoutNanoseconds).saturatingAdd(1))
            }
        }
        return deadline
    }

    /// Sends the repairs of every partly filled bin, as before an orderly shutdown.
    public func flush<Output: GatewayOutput>(into output: inout Output) {
        for index in sessions.indices {
            withUnsafeMutablePointer(to: &output) { output in
                var sink = PeerFrameSink(
                    output: output, peer: PeerID(index), lane: lane, headroom: 0, tailroom: 0, protection: settings.framing)
                sessions[index].flushDraining(into: &sink)
                sessions[index].encoder.flush(into: &sink)
            }
        }
    }

    /// Takes the events noticed since the last call (peer up, down, restarted, code changed, and with
    /// `GatewaySettings.recordsJudgements` every report judged).
    public func takeEvents() -> [GatewayEvent] {
        guard !events.isEmpty else { return [] }
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// The counters of peer `peer`, with its encoder's and decoders' folded in.
    public func counters(peer: PeerID) -> PeerCounters {
        let session = sessions[peer.index]
        var counters = session.counters
        let encoder = session.encoderCounters
        let decoder = session.decoderCounters
        let measured = session.meterTotals
        counters.wanPacketsExpected = measured.total.expected
        counters.wanPacketsLost = measured.total.lost
        counters.wanLossBursts = measured.total.bursts.total
        counters.wanLateArrivals = measured.late
        counters.wanCongestionExpected = measured.congested.expected
        counters.wanCongestionLost = measured.congested.lost
        counters.wanCongestedSamples = session.congestedSamples
        counters.wanQueueDelayNanoseconds = session.queue.queueDelay
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
        counters.malformed = session.counters.malformed &+ decoder.malformed
        return counters
    }

    /// Whether peer `peer` has been heard from within the peer timeout.
    public func isUp(peer: PeerID) -> Bool { sessions[peer.index].up }

    /// The last round-trip time measured with keepalives to peer `peer`, in nanoseconds.
    public func roundTripNanoseconds(peer: PeerID) -> UInt64? { sessions[peer.index].roundTripNanoseconds }

    /// The code this lane now sends peer `peer` (the configured one in fixed mode).
    public func code(peer: PeerID) -> FECParameters { sessions[peer.index].encoder.parameters }

    /// The residual the adaptive policy predicted for the current code at the last reported loss.
    public func predictedResidual(peer: PeerID) -> Double { sessions[peer.index].policy.predictedResidual }

    /// The loss measured on peer `peer`'s streams over the last `nanoseconds` (up to 64 s), all
    /// lanes of the peer decoded here added up.
    public func measuredLoss(peer: PeerID, nanoseconds: UInt64, now: UInt64) -> LossWindow {
        sessions[peer.index].measuredLoss(nanoseconds: nanoseconds, now: now)
    }

    /// The stream identity of this lane's encoder for peer `peer`.
    public func stream(peer: PeerID) -> StreamID { sessions[peer.index].encoder.stream }

    /// The peer's lanes this lane decodes (it has heard their keepalives).
    public func remoteLanes(peer: PeerID) -> [LaneID] { sessions[peer.index].decodedLanes }

    private func heard<Output: GatewayOutput>(_ peer: PeerID, session: PeerSession, now: UInt64, into output: inout Output) {
        session.lastHeard = now
        guard !session.up else { return }
        session.up = true
        events.append(.peerUp(peer: peer))
        // Answer at once, so a peer that has just come up learns of us without waiting an interval.
        sendKeepalive(peer, session: session, now: now, into: &output)
    }

    /// Tells the peer what this lane measured of each of its streams decoded here: a short and a
    /// long window, for the peer's adaptive policy (sent in fixed mode too: it costs 184 bytes
    /// per lane a few times a second and keeps the peer's view of the link current).
    private func sendLossReports<Output: GatewayOutput>(_ peer: PeerID, session: PeerSession, now: UInt64, into output: inout Output) {
        session.nextReport = now.saturatingAdd(settings.adaptation.reportIntervalNanoseconds)
        guard session.up else { return }
        let lane = lane
        let protection = settings.framing
        let total = WireFormat.envelopeSize + WireFormat.lossReportSize
        // An early report's short window is what was judged since the previous report (losses
        // that just appeared, undiluted); a regular one's the last second.
        let early = session.earlyReportDue
        let sinceMilliseconds = UInt16(clamping: max(1, (now &- min(now, session.lastReportAt)) / 1_000_000))
        session.earlyReportDue = false
        for index in session.decoders.indices {
            let decoder = session.decoders[index]
            guard let stream = decoder.currentStream else { continue }
            // Decoders were made for lanes in order of first frame; find this one's lane.
            guard let remote = session.lane(of: decoder), let meter = session.meter(for: remote) else { continue }
            meter.noteUnrecovered(total: decoder.counters.unrecoverable, now: now)
            let report = LossReportFrame(
                stream: stream, shortMilliseconds: early ? sinceMilliseconds : 1000, longMilliseconds: 10_000,
                short: early ? session.sinceReported(lane: remote, meter: meter) : meter.window(nanoseconds: 1_000_000_000, now: now),
                long: meter.window(nanoseconds: 10_000_000_000, now: now), shortSpan: early ? .sincePreviousReport : .trailing)
            session.noteReported(lane: remote, meter: meter, long: report.long, now: now)
            output.send(toPeer: peer, capacity: total) { slot in
                report.write(to: slot + WireFormat.envelopeSize)
                WireFormat.writeEnvelope(slot, type: .lossReport, lane: lane, protection: protection)
                return total
            }
            session.counters.lossReportsSent &+= 1
        }
    }

    private func sendKeepalive<Output: GatewayOutput>(_ peer: PeerID, session: PeerSession, now: UInt64, into output: inout Output) {
        let echo = session.peerTimestamp == 0 ? 0 : session.peerTimestamp &+ (now &- session.peerTimestampReceivedAt)
        // The stream this lane decodes from the peer's lane of the same index, if any.
        let decoding = session.decoder(for: lane)?.currentStream ?? StreamID(0)
        let keepalive = KeepaliveFrame(
            stream: session.encoder.stream,
            nextSequence: UInt32(truncatingIfNeeded: session.encoder.nextSequence),
            decodingStream: decoding,
            timestamp: max(now, 1),
            echoedTimestamp: echo)
        let lane = lane
        let protection = settings.framing
        let total = WireFormat.envelopeSize + WireFormat.keepaliveSize
        output.send(toPeer: peer, capacity: total) { slot in
            keepalive.write(to: slot + WireFormat.envelopeSize)
            WireFormat.writeEnvelope(slot, type: .keepalive, lane: lane, protection: protection)
            return total
        }
        session.counters.keepalivesSent &+= 1
        session.announced = true
        // While data flows and the code adapts, keepalives double as delay probes: the peer
        // tells the losses at a full queue (congestion) from the link's own by their delay.
        let sent = session.encoderCounters.dataFrames
        let probing = settings.adaptation.mode == .adaptive && sent != session.dataFramesAtKeepalive
        session.dataFramesAtKeepalive = sent
        let interval = probing
            ? min(settings.keepaliveIntervalNanoseconds, AdaptationSettings.probeIntervalNanoseconds)
            : settings.keepaliveIntervalNanoseconds
        session.nextKeepalive = now.saturatingAdd(interval)
    }
}
