/// What one lane of the gateway keeps for one peer: its encoder, a decoder for each lane of the
/// peer it hears, liveness and counters.
///
/// The peer's lanes are steered to this lane by its kernel (lane index modulo the lane count), so
/// a lane decodes the streams of zero, one or several of the peer's lanes; each gets its decoder
/// when its first frame arrives (at most `LaneID.maxLanes` per peer: the config's memory check
/// counts them all).
final class PeerSession {
    /// The encoder new packets go to.
    private(set) var encoder: LayeredEncoder
    // The encoder replaced by the last code switch, until its partly filled bins have flushed.
    private(set) var draining: LayeredEncoder?
    // The counts of replaced encoders, so the peer's totals do not drop at a switch.
    private var retiredEncoderCounters = EncoderCounters()
    /// The sender's choice of code (inert in fixed mode).
    var policy: AdaptivePolicy
    let decoderParameters: DecoderParameters
    // By the peer's lane, and the existing ones in creation order (iterated on every tick).
    private var decoderByLane: [LayeredDecoder?] = Array(repeating: nil, count: LaneID.maxLanes)
    private(set) var decoders: [LayeredDecoder] = []
    // The loss meter of each decoded lane, and the stream it measures.
    private var meterByLane: [LossMeter?] = Array(repeating: nil, count: LaneID.maxLanes)
    private var meteredStream: [StreamID] = Array(repeating: StreamID(0), count: LaneID.maxLanes)
    var nextReport: UInt64
    // When the last reports went, and what each lane's meter had judged then (`noteReported`).
    private(set) var lastReportAt: UInt64 = 0
    /// Whether the next report was brought forward by losses: its short window is then what was
    /// judged since the previous report, so loss that began a moment ago is not diluted by the
    /// clean time before it.
    var earlyReportDue = false
    // What each lane's meter had judged outside congestion when the last report went.
    private var reportedJudged = [LossWindow](repeating: LossWindow(), count: LaneID.maxLanes)
    private var reportedBurstRate = [Double](repeating: 0, count: LaneID.maxLanes)
    var counters = PeerCounters()
    var up = false
    var lastHeard: UInt64 = 0
    var nextKeepalive: UInt64
    // The peer's last keepalive timestamp and when it came, to echo it back adjusted for the wait.
    var peerTimestamp: UInt64 = 0
    var peerTimestampReceivedAt: UInt64 = 0
    var roundTripNanoseconds: UInt64? = nil
    /// The least round trip of the last 10 to 20 s (the adaptive policy's recovery budget).
    var roundTripFloor = RoundTripFloor()
    /// The queue the peer's keepalives waited in on the way here.
    var queue: QueueDelayEstimator
    /// Congested delay samples (the path's queue was full).
    var congestedSamples: UInt64 = 0
    // Data frames sent by the last keepalive: traffic since then makes the next one come sooner.
    var dataFramesAtKeepalive: UInt64 = 0
    // Whether a keepalive naming this encoder's stream has gone out yet.
    var announced = false
    // Restarts already reported, per remote lane.
    var reportedRestarts = [UInt64](repeating: 0, count: LaneID.maxLanes)

    /// Lanes of the peer's beyond this are refused: the memory bound counts one decoder per lane.
    let peerLanes: Int

    init(
        encoder: LayeredEncoder, policy: AdaptivePolicy, decoderParameters: DecoderParameters, peerLanes: Int, nextKeepalive: UInt64
    ) {
        self.encoder = encoder
        self.policy = policy
        self.nextReport = nextKeepalive
        self.decoderParameters = decoderParameters
        self.peerLanes = min(max(1, peerLanes), LaneID.maxLanes)
        self.nextKeepalive = nextKeepalive
        self.queue = QueueDelayEstimator(threshold: policy.settings.congestionDelayNanoseconds)
        decoders.reserveCapacity(self.peerLanes)
    }

    /// The decoder of the peer's lane `lane`, if one exists.
    @inline(__always)
    func decoder(for lane: LaneID) -> LayeredDecoder? { decoderByLane[lane.index] }

    /// The decoder of the peer's lane `lane`, made on first use (once per remote lane, not per
    /// packet); nil for a lane beyond the peer's configured lanes.
    @inline(__always)
    func makeDecoder(for lane: LaneID) -> LayeredDecoder? {
        if let existing = decoderByLane[lane.index] { return existing }
        guard lane.index < peerLanes else { return nil }
        let made = LayeredDecoder(parameters: decoderParameters)
        decoderByLane[lane.index] = made
        decoders.append(made)
        meterByLane[lane.index] = LossMeter()
        return made
    }

    /// Counts data frame `header` from the peer's lane `lane` in its loss meter, if it belongs to
    /// the stream that lane's decoder follows (a new stream starts a new count).
    @inline(__always)
    func meter(_ header: DataFrameHeader, lane: LaneID, decoder: LayeredDecoder, now: UInt64) {
        guard let current = decoder.currentStream, current == header.stream, let meter = meterByLane[lane.index] else { return }
        if meteredStream[lane.index] != current {
            meteredStream[lane.index] = current
            meter.reset()
            // The meter's totals run on across streams: the new one's slice starts here.
            reportedJudged[lane.index] = meter.judgedOutsideCongestion
        }
        meter.record(header.sequence, now: now)
        // Loss appearing: report now rather than at the next interval, so the sender's code is up
        // about a round trip after the first losses are judged, not up to a report interval later.
        // Counted in bursts, not losses: a full queue the congestion marks missed loses a few long
        // bursts, and reporting those early sent a clean link's code up.
        let index = lane.index
        guard meter.total.lost &- meter.congested.lost >= reportedJudged[index].lost &+ Self.earlyReportBursts, nextReport > now,
            now >= lastReportAt &+ Self.earlyReportSpacingNanoseconds
        else { return }
        let slice = sinceReported(lane: lane, meter: meter)
        let bursts = slice.bursts.total
        let expected = slice.expected
        if bursts >= Self.earlyReportBursts && Double(bursts) > 4 * reportedBurstRate[index] * Double(expected) + Double(Self.earlyReportBursts) {
            nextReport = now
            earlyReportDue = true
            counters.earlyLossReports &+= 1
        }
    }

    /// New bursts of losses (judged outside congestion) since the last report that, when they are
    /// also four times what the reported long window predicts, bring the next report forward.
    static let earlyReportBursts: UInt64 = 8
    /// Reports come no closer together than this.
    static let earlyReportSpacingNanoseconds: UInt64 = 50_000_000

    /// What the meter of the peer's lane `lane` judged outside congestion since the last report
    /// about it (an early report's short window).
    func sinceReported(lane: LaneID, meter: LossMeter) -> LossWindow {
        meter.judgedOutsideCongestion.since(reportedJudged[lane.index])
    }

    /// Notes what the meter of the peer's lane `lane` had judged when a report about it went out.
    func noteReported(lane: LaneID, meter: LossMeter, long: LossWindow, now: UInt64) {
        reportedJudged[lane.index] = meter.judgedOutsideCongestion
        reportedBurstRate[lane.index] = long.expected == 0 ? 0 : Double(long.bursts.total) / Double(long.expected)
        lastReportAt = now
    }

    /// The loss meter of the peer's lane `lane`, if it is decoded here.
    func meter(for lane: LaneID) -> LossMeter? { meterByLane[lane.index] }

    /// The loss measured over the last `nanoseconds` on every decoded lane of the peer, added up.
    func measuredLoss(nanoseconds: UInt64, now: UInt64) -> LossWindow {
        var sum = LossWindow()
        for index in meterByLane.indices { if let meter = meterByLane[index] { sum.add(meter.window(nanoseconds: nanoseconds, now: now)) } }
        return sum
    }

    /// The loss meters' totals, late arrivals and what they judged in congestion, added up.
    var meterTotals: (total: LossWindow, late: UInt64, congested: LossWindow) {
        var sum = LossWindow()
        var congested = LossWindow()
        var late: UInt64 = 0
        for index in meterByLane.indices {
            if let meter = meterByLane[index] {
                sum.add(meter.total)
                congested.add(meter.congested)
                late &+= meter.lateArrivals
            }
        }
        return (sum, late, congested)
    }

    /// Takes a keepalive's one-way delay sample and tells every loss meter whether the frames
    /// since the last one crossed a full queue.
    func sampleQueue(sentAt: UInt64, now: UInt64) {
        let congested = queue.sample(sentAt: sentAt, now: now)
        if congested { congestedSamples &+= 1 }
        for index in meterByLane.indices { meterByLane[index]?.noteDelaySample(congested: congested) }
    }

    /// Every encoder's counts since the start: the current one, the draining one and those retired.
    var encoderCounters: EncoderCounters {
        var total = retiredEncoderCounters
        total.add(encoder.counters)
        if let draining { total.add(draining.counters) }
        return total
    }

    /// Replaces the encoder by one with `parameters` that goes on with the same stream and sequence
    /// numbers, so the peer's decoder sees no change: repairs describe their own members. The old
    /// encoder keeps its partly filled bins and sends each repair as the stream moves past it
    /// (`drainStep`, once per packet), or at its deadline when traffic stops: no packet left
    /// unprotected, no burst of repairs. One still draining from an earlier switch is flushed now.
    func switchCode<Sink: FrameSink>(to parameters: FECParameters, flushingInto sink: inout Sink) {
        if let old = draining {
            old.flush(into: &sink)
            retiredEncoderCounters.add(old.counters)
        }
        // Layers numbered apart from the old code's while it drains (0-3 and 4-7), when both fit.
        let half = FECParameters.maxLayers / 2
        let firstLayer = encoder.firstLayer == 0 && encoder.parameters.c <= half && parameters.c <= half ? half : 0
        let next = LayeredEncoder(
            parameters: parameters, stream: encoder.stream, initialSequence: encoder.nextSequence, firstLayer: firstLayer)
        draining = encoder
        encoder = next
        counters.codeSwitches &+= 1
    }

    /// Moves the draining encoder on by the packet just sent (see `LayeredEncoder.drainStep`).
    @inline(__always)
    func drainStep<Sink: FrameSink>(into sink: inout Sink) {
        guard let old = draining else { return }
        if !old.drainStep(into: &sink) {
            retiredEncoderCounters.add(old.counters)
            draining = nil
        }
    }

    /// Runs the draining encoder's deadlines (traffic may stop right after a switch); it is
    /// dropped once every bin has gone out.
    func tickDraining<Sink: FrameSink>(now: UInt64, into sink: inout Sink) {
        guard let old = draining else { return }
        old.tick(now: now, into: &sink)
        if !old.hasPendingBins {
            retiredEncoderCounters.add(old.counters)
            draining = nil
        }
    }

    /// Flushes the draining encoder's bins (an orderly shutdown).
    func flushDraining<Sink: FrameSink>(into sink: inout Sink) {
        guard let old = draining else { return }
        old.flush(into: &sink)
        retiredEncoderCounters.add(old.counters)
        draining = nil
    }

    /// The peer's lane whose decoder `decoder` is.
    func lane(of decoder: LayeredDecoder) -> LaneID? {
        for index in decoderByLane.indices where decoderByLane[index] === decoder { return LaneID(UInt8(index)) }
        return nil
    }

    /// The peer's lanes that have a decoder here.
    var decodedLanes: [LaneID] {
        decoderByLane.indices.filter { decoderByLane[$0] != nil }.map { LaneID(UInt8($0)) }
    }

    /// The counters of every decoder, added up.
    var decoderCounters: DecoderCounters {
        var total = DecoderCounters()
        for index in decoders.indices { total.add(decoders[index].counters) }
        return total
    }

    /// The earliest decoder deadline, `UInt64.max` when none.
    func earliestDecoderDeadline() -> UInt64 {
        var earliest = UInt64.max
        var index = 0
        while index < decoders.count {
            if let deadline = decoders[index].nextDeadline, deadline < earliest { earliest = deadline }
            index += 1
        }
        return earliest
    }

    /// Runs every decoder's timers.
    func tickDecoders(now: UInt64) {
        for index in decoders.indices { decoders[index].tick(now: now) }
    }
}

/// Passes an encoder's frames to the gateway output, addressed to one peer, in their envelope.
struct PeerFrameSink<Output: GatewayOutput>: FrameSink {
    let output: UnsafeMutablePointer<Output>
    let peer: PeerID
    let lane: LaneID
    /// Writable bytes in front of a data frame's payload (the packet being encoded).
    let headroom: Int
    /// Writable bytes after it: a sealed frame's tag goes there.
    let tailroom: Int
    let protection: FrameProtection

    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
        let type: FrameType = kind == .data ? .data : .repair
        let headerLength = WireFormat.envelopeSize + header.count
        if kind == .data, headroom >= headerLength, tailroom >= WireFormat.sealOverhead, let packet = payload.baseAddress {
            // In front of the packet, where it lies: the frame leaves without a copy.
            let frame = UnsafeMutableRawPointer(mutating: packet) - headerLength
            (frame + WireFormat.envelopeSize).copyMemory(from: header.baseAddress!, byteCount: header.count)
            WireFormat.writeEnvelope(frame, type: type, lane: lane, protection: protection)
            output.pointee.send(frame: UnsafeRawBufferPointer(start: frame, count: headerLength + payload.count), toPeer: peer)
            return
        }
        let total = headerLength + payload.count
        let lane = lane
        let protection = protection
        output.pointee.send(toPeer: peer, capacity: total) { slot in
            (slot + WireFormat.envelopeSize).copyMemory(from: header.baseAddress!, byteCount: header.count)
            if let source = payload.baseAddress { (slot + headerLength).copyMemory(from: source, byteCount: payload.count) }
            WireFormat.writeEnvelope(slot, type: type, lane: lane, protection: protection)
            return total
        }
    }
}

/// Passes a decoder's packets to the TUN side of the gateway output, refusing non-IP bytes.
struct PeerDeliverySink<Output: GatewayOutput>: PacketSink {
    let output: UnsafeMutablePointer<Output>
    let peer: PeerID
    let session: PeerSession

    mutating func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        guard IPPacket.isWellFormed(packet) else {
            session.counters.malformed &+= 1
            return
        }
        if let recovery { session.counters.recoveryLatency.record(nanoseconds: recovery.latencyNanoseconds) }
        session.counters.packetsDelivered &+= 1
        output.pointee.deliver(packet, fromPeer: peer)
    }
}
