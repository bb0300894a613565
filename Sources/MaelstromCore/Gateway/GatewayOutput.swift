/// Where the gateway logic puts its results: frames for peers and packets for the TUN device.
///
/// The daemon implements it with a `sendmmsg` batch and TUN writes; tests record. Every frame is
/// one contiguous buffer, so it can be sealed in place and sent with one `iovec`.
public protocol GatewayOutput {
    /// Sends a frame laid out in memory that stays valid until the output has sent it: a data
    /// frame, written into the room in front of its packet. At least `WireFormat.sealOverhead`
    /// bytes after it are writable too, and the output may seal the frame where it lies.
    mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID)
    /// Sends a frame the output keeps a copy of: `write` fills `capacity` bytes of the output's
    /// own memory and returns the frame's length. The output counts what it has no room for, and
    /// keeps `WireFormat.sealOverhead` bytes more after the frame, so it may seal it there.
    mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int)
    /// Writes one packet into the TUN device. The bytes are valid only during the call.
    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID)
}

/// Something the gateway noticed that an operator wants to hear about (rare; logged).
public enum GatewayEvent: Sendable, Equatable {
    /// A peer was heard from after silence (or for the first time).
    case peerUp(peer: PeerID)
    /// A peer was silent for longer than the peer timeout.
    case peerDown(peer: PeerID)
    /// A lane of the peer started a new stream: the peer restarted.
    case peerRestarted(peer: PeerID, lane: LaneID)
    /// The adaptive policy changed the code sent to the peer, for the loss it reported.
    case codeChanged(peer: PeerID, code: FECParameters, decision: CodeDecision)
    /// The adaptive policy judged a loss report of the peer (only with
    /// `GatewaySettings.recordsJudgements`); `code` is the code in use after it.
    case reportJudged(peer: PeerID, judgement: ReportJudgement, code: FECParameters)
}
