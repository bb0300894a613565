/// What one lane of the gateway keeps for one peer: its encoder, a decoder for each lane of the
/// peer it hears, liveness and counters.
///
/// The peer's lanes are steered to this lane by its kernel (lane index modulo the lane count), so
/// a lane decodes the streams of zero, one or several of the peer's lanes; each gets its decoder
/// when its first frame arrives (at most `LaneID.maxLanes` per peer: the config's memory check
/// counts them all).
final class PeerSession {
    let encoder: LayeredEncoder
    let decoderParameters: DecoderParameters
    // By the peer's lane, and the existing ones in creation order (iterated on every tick).
    private var decoderByLane: [LayeredDecoder?] = Array(repeating: nil, count: LaneID.maxLanes)
    private(set) var decoders: [LayeredDecoder] = []
    var counters = PeerCounters()
    var up = false
    var lastHeard: UInt64 = 0
    var nextKeepalive: UInt64
    // The peer's last keepalive timestamp and when it came, to echo it back adjusted for the wait.
    var peerTimestamp: UInt64 = 0
    var peerTimestampReceivedAt: UInt64 = 0
    var roundTripNanoseconds: UInt64? = nil
    // Whether a keepalive naming this encoder's stream has gone out yet.
    var announced = false
    // Restarts already reported, per remote lane.
    var reportedRestarts = [UInt64](repeating: 0, count: LaneID.maxLanes)

    /// Lanes of the peer's beyond this are refused: the memory bound counts one decoder per lane.
    let peerLanes: Int

    init(encoder: LayeredEncoder, decoderParameters: DecoderParameters, peerLanes: Int, nextKeepalive: UInt64) {
        self.encoder = encoder
        self.decoderParameters = decoderParameters
        self.peerLanes = min(max(1, peerLanes), LaneID.maxLanes)
        self.nextKeepalive = nextKeepalive
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
        return made
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
