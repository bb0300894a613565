import MaelstromCore

/// A `GatewayOutput` that keeps a copy of every datagram sent and every packet delivered.
public struct RecordingGatewayOutput: GatewayOutput {
    /// One datagram for a peer.
    public struct Sent: Equatable, Sendable {
        /// The peer.
        public var peer: PeerID
        /// The whole datagram (envelope, header and payload).
        public var bytes: [UInt8]
    }

    /// Datagrams sent, in order.
    public var sent: [Sent] = []
    /// Packets written to the TUN side, in order, with the peer they came from.
    public var delivered: [(peer: PeerID, bytes: [UInt8])] = []
    /// Frames sent in place (from the room in front of their packet) rather than copied.
    public var sentInPlace = 0

    /// Creates an empty recorder.
    public init() {}

    /// Records a frame laid out in place.
    public mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID) {
        sent.append(Sent(peer: peer, bytes: Array(frame)))
        sentInPlace += 1
    }

    /// Records a frame written into a slot of the recorder's.
    public mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {
        var bytes = [UInt8](repeating: 0, count: capacity)
        let length = bytes.withUnsafeMutableBytes { write($0.baseAddress!) }
        sent.append(Sent(peer: peer, bytes: Array(bytes.prefix(length))))
    }

    /// Records a delivered packet.
    public mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID) {
        delivered.append((peer, Array(packet)))
    }

    /// The frame types of the datagrams sent, in order.
    public var sentTypes: [FrameType] {
        sent.compactMap { FrameType(rawValue: $0.bytes[1]) }
    }
}
