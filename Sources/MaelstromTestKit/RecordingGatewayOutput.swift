import MaelstromCore

/// A `GatewayOutput` that keeps a copy of every datagram sent and every packet delivered.
public struct RecordingGatewayOutput: GatewayOutput {
    /// One datagram for a peer.
    public struct Sent: Equatable, Sendable {
        /// The peer's index.
        public var peer: Int
        /// The whole datagram (header and payload).
        public var bytes: [UInt8]
    }

    /// Datagrams sent, in order.
    public var sent: [Sent] = []
    /// Packets written to the TUN side, in order, with the peer they came from.
    public var delivered: [(peer: Int, bytes: [UInt8])] = []

    /// Creates an empty recorder.
    public init() {}

    /// Records a datagram.
    public mutating func send(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, toPeer peer: Int) {
        sent.append(Sent(peer: peer, bytes: Array(header) + Array(payload)))
    }

    /// Records a delivered packet.
    public mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: Int) {
        delivered.append((peer, Array(packet)))
    }

    /// The frame types of the datagrams sent, in order.
    public var sentTypes: [FrameType] {
        sent.compactMap { FrameType(rawValue: $0.bytes[1]) }
    }
}
