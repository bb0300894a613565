/// Where the gateway logic puts its results: datagrams for peers and packets for the TUN device.
///
/// The daemon implements it with a `sendmmsg` batch and TUN writes; tests record. The bytes are
/// valid only during the call (a data frame's payload is the packet being handled).
public protocol GatewayOutput {
    /// Sends one frame, `header` then `payload`, to peer number `peer`.
    mutating func send(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, toPeer peer: Int)
    /// Writes one packet into the TUN device.
    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: Int)
}

/// Something the gateway noticed that an operator wants to hear about (rare; logged).
public enum GatewayEvent: Sendable, Equatable {
    /// A peer was heard from after silence (or for the first time).
    case peerUp(peer: Int)
    /// A peer was silent for longer than the peer timeout.
    case peerDown(peer: Int)
    /// A peer started a new stream: it restarted.
    case peerRestarted(peer: Int)
}
