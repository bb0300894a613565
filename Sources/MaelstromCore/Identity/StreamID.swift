/// The identity of one encoder's stream of frames: random, new each time the encoder starts.
///
/// A receiver tells a sender's restart from a new identity; 0 is never chosen, so it can stand
/// for "none" on the wire (a keepalive's decoding stream before any frame came).
public struct StreamID: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The 32 bits that travel in every frame.
    public var rawValue: UInt32

    /// Wraps the wire value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Wraps the wire value.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// For tests and constants: `let stream: StreamID = 7`.
    public init(integerLiteral value: UInt32) { self.rawValue = value }

    /// A fresh random identity, never 0.
    public static func random<Generator: RandomNumberGenerator>(using generator: inout Generator) -> StreamID {
        StreamID(UInt32.random(in: 1...UInt32.max, using: &generator))
    }

    /// The identity in hexadecimal, as logs show it.
    public var description: String {
        let digits = String(rawValue, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
