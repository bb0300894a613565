/// Whether a frame carries one data packet or a repair.
public enum FrameKind: Sendable, Equatable {
    /// A data frame: header plus the caller's packet.
    case data
    /// A repair frame: header plus the XOR of a bin.
    case repair
}

/// Receives the frames an encoder produces.
///
/// A frame comes as two pieces: the frame type's own header (without the envelope, which the
/// sink adds: it knows the lane and, later, the session) and the payload. The header bytes are
/// valid only during the call; a data frame's payload is the packet the caller passed to
/// `encode` (so a sink can lay the headers out in the room in front of it), a repair's payload
/// is the encoder's bin and is valid only during the call too: copy what must outlive it.
public protocol FrameSink {
    /// Takes one frame made of `header` followed by `payload`.
    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind)
}

/// How a rebuilt packet came back: how long after it should have arrived.
public struct Recovery: Sendable, Equatable {
    /// Data packets of the stream seen after the rebuilt one by the time it was rebuilt.
    public var latencyPackets: UInt64
    /// Time from noticing the packet was missing to rebuilding it, in nanoseconds.
    public var latencyNanoseconds: UInt64

    /// Creates a recovery record.
    public init(latencyPackets: UInt64, latencyNanoseconds: UInt64) {
        self.latencyPackets = latencyPackets
        self.latencyNanoseconds = latencyNanoseconds
    }
}

/// Receives the packets a decoder delivers, each exactly once.
///
/// The bytes are valid only during the call.
public protocol PacketSink {
    /// Takes one packet: an original (`recovery == nil`) or a rebuilt one.
    mutating func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?)
}
