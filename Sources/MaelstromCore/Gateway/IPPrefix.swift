/// A network prefix such as `10.2.0.0/24` or `2001:db8::/32`.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The network address, with the host bits zero.
    public let address: IPAddress
    /// Number of leading bits that name the network.
    public let length: Int

    /// Creates a prefix; nil when `length` does not fit the address or host bits are set.
    public init?(address: IPAddress, length: Int) {
        guard length >= 0 && length <= address.bitWidth else { return nil }
        guard Self.masked(address, length) == address else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`; nil for bad text or host bits set (`10.2.0.1/24`).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]), !parts[1].isEmpty,
            parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), parts[1].count == 1 || !parts[1].hasPrefix("0"),
            let length = Int(parts[1])
        else { return nil }
        self.init(address: address, length: length)
    }

    /// Whether `candidate` lies inside this prefix.
    @inlinable
    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate) {
        case (.v4(let network), .v4(let value)):
            return length == 0 || (network ^ value) >> (32 - UInt32(length)) == 0
        case (.v6(let networkHigh, let networkLow), .v6(let high, let low)):
            if length <= 64 {
                return length == 0 || (networkHigh ^ high) >> (64 - UInt64(length)) == 0
            }
            return networkHigh == high && (length == 128 || (networkLow ^ low) >> (128 - UInt64(length)) == 0)
        default:
            return false
        }
    }

    /// Whether the two prefixes share any address.
    public func overlaps(_ other: IPPrefix) -> Bool {
        length <= other.length ? contains(other.address) : other.contains(address)
    }

    /// `ADDRESS/LENGTH`.
    public var description: String { "\(address)/\(length)" }

    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let value):
            return .v4(length == 0 ? 0 : value & ~UInt32(0) << (32 - UInt32(length)))
        case .v6(let high, let low):
            if length <= 64 {
                return .v6(high: length == 0 ? 0 : high & ~UInt64(0) << (64 - UInt64(length)), low: 0)
            }
            return .v6(high: high, low: length == 128 ? low : low & ~UInt64(0) << (128 - UInt64(length)))
        }
    }
}
