/// Everything the gateway keeps for one peer: its encoder, decoder, liveness and counters.
final class PeerState {
    let encoder: LayeredEncoder
    let decoder: LayeredDecoder
    var counters = PeerCounters()
    var up = false
    var lastHeard: UInt64 = 0
    var nextKeepalive: UInt64
    // The peer's last keepalive timestamp and when it came, to echo it back adjusted for the wait.
    var peerTimestamp: UInt64 = 0
    var peerTimestampReceivedAt: UInt64 = 0
    var roundTripNanoseconds: UInt64? = nil
    var reportedRestarts: UInt64 = 0
    // Whether a keepalive naming this encoder's stream has gone out yet.
    var announced = false

    init(encoder: LayeredEncoder, decoder: LayeredDecoder, nextKeepalive: UInt64) {
        self.encoder = encoder
        self.decoder = decoder
        self.nextKeepalive = nextKeepalive
    }
}

/// Passes an encoder's frames to the gateway output, addressed to one peer.
struct PeerFrameSink<Output: GatewayOutput>: FrameSink {
    let output: UnsafeMutablePointer<Output>
    let peer: Int

    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
        output.pointee.send(header: header, payload: payload, toPeer: peer)
    }
}

/// Passes a decoder's packets to the TUN side of the gateway output, refusing non-IP bytes.
struct PeerDeliverySink<Output: GatewayOutput>: PacketSink {
    let output: UnsafeMutablePointer<Output>
    let peer: Int
    let state: PeerState

    mutating func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        guard IPPacket.isWellFormed(packet) else {
            state.counters.malformed &+= 1
            return
        }
        if let recovery { state.counters.recoveryLatency.record(nanoseconds: recovery.latencyNanoseconds) }
        state.counters.packetsDelivered &+= 1
        output.pointee.deliver(packet, fromPeer: peer)
    }
}
