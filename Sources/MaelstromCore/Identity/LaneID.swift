/// One lane of a gateway: a packet thread with its own TUN queue, UDP socket, encoders and decoders.
///
/// Every frame carries its sender's lane, so the receiver's kernel can steer it to one of the
/// receiver's lanes and the receiver can keep one decoder per sending lane.
public struct LaneID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The lane's index, `0..<LaneID.maxLanes`.
    public var rawValue: UInt8

    /// The most lanes a gateway runs, and the most lanes of a peer's that a gateway decodes.
    public static let maxLanes = 16

    /// Wraps a lane index.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Wraps a lane index.
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// For tests and constants.
    public init(integerLiteral value: UInt8) { self.rawValue = value }

    /// The lane's index as an `Int`, for indexing.
    public var index: Int { Int(rawValue) }

    /// Orders lanes by index.
    public static func < (a: LaneID, b: LaneID) -> Bool { a.rawValue < b.rawValue }

    /// `lane 3`.
    public var description: String { "lane \(rawValue)" }
}

/// One configured peer gateway, by its position in the configuration.
public struct PeerID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The peer's index in `GatewaySettings.peers`.
    public var rawValue: Int

    /// Wraps an index.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Wraps an index.
    public init(_ rawValue: Int) { self.rawValue = rawValue }

    /// For tests and constants.
    public init(integerLiteral value: Int) { self.rawValue = value }

    /// The index, for indexing.
    public var index: Int { rawValue }

    /// Orders peers by index.
    public static func < (a: PeerID, b: PeerID) -> Bool { a.rawValue < b.rawValue }

    /// `peer 2`.
    public var description: String { "peer \(rawValue)" }
}
