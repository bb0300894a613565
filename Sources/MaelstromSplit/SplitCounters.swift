/// What the split proxy has done since it started; read by metrics and `maelstromd stats`.
public struct SplitCounters: Sendable, Equatable {
    /// Connections accepted from the local site (their far leg crosses the WAN).
    public var acceptedLocal: UInt64 = 0
    /// Connections accepted from the tunnel (split by the peer gateway).
    public var acceptedTunnel: UInt64 = 0
    /// Connections open now.
    public var active: UInt64 = 0
    /// Connections reset at once because `max-connections` were open.
    public var refusedFull: UInt64 = 0
    /// Connections whose onward leg could not be made (refused, unreachable, timed out).
    public var connectFailed: UInt64 = 0
    /// Connections ended by a reset from either side or an error.
    public var reset: UInt64 = 0
    /// Connections that moved nothing for `idle-timeout` and were reset.
    public var idleClosed: UInt64 = 0
    /// Connections that ended with both directions closed in order.
    public var closed: UInt64 = 0
    /// Bytes relayed toward the onward leg (from the side that opened the connection).
    public var bytesForward: UInt64 = 0
    /// Bytes relayed back toward the side that opened the connection.
    public var bytesBackward: UInt64 = 0

    /// All zero.
    public init() {}
}
