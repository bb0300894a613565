import MaelstromCore

/// Readers for the address-like values, with messages that say which part is wrong.
extension ConfigNode {
    /// `ADDRESS:PORT` or `[IPv6]:PORT`, port 1–65535.
    func endpoint() throws(ConfigError) -> Endpoint {
        if case .sequence = node {
            throw error(.wrongType, "expected ADDRESS:PORT, got a list; quote IPv6 endpoints: \"[2001:db8::1]:4500\"")
        }
        let text = try string("ADDRESS:PORT")
        guard let endpoint = Endpoint(text) else {
            throw error(.badValue, "'\(text)' is not ADDRESS:PORT or [IPv6-ADDRESS]:PORT with a port from 1 to 65535")
        }
        guard endpoint.port != 0 else { throw error(.badValue, "port 0 is not allowed; use a port from 1 to 65535") }
        return endpoint
    }

    /// A network prefix with no host bits set: a set host bit is almost always a mistyped length or address.
    func prefix() throws(ConfigError) -> IPPrefix {
        let (address, length) = try addressAndLength(example: "10.2.0.0/24")
        guard let prefix = IPPrefix(address: address, length: length) else {
            throw error(.badValue, "\(address)/\(length) has host bits set; the network is \(Self.network(of: address, length: length))/\(length)")
        }
        return prefix
    }

    /// An interface address, where the host bits are the point.
    func interfaceAddress() throws(ConfigError) -> InterfaceAddress {
        let (address, length) = try addressAndLength(example: "172.31.255.1/30")
        // addressAndLength has checked the length against the family.
        return InterfaceAddress(address: address, prefixLength: length)!
    }

    private func addressAndLength(example: String) throws(ConfigError) -> (IPAddress, Int) {
        let text = try string("ADDRESS/LENGTH")
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw error(.badValue, "'\(text)' is not ADDRESS/LENGTH such as \(example)") }
        guard let address = IPAddress(parts[0]) else {
            throw error(.badValue, "'\(parts[0])' in '\(text)' is not an IPv4 or IPv6 address")
        }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
            parts[1].count == 1 || !parts[1].hasPrefix("0"), let length = Int(parts[1]), length <= address.bitWidth
        else {
            throw error(.badValue, "prefix length '\(parts[1])' in '\(text)' must be 0 to \(address.bitWidth) for \(address.isIPv4 ? "IPv4" : "IPv6")")
        }
        return (address, length)
    }

    private static func network(of address: IPAddress, length: Int) -> IPAddress {
        var bytes = address.bytes
        for bit in length..<(bytes.count * 8) { bytes[bit / 8] &= ~(0x80 >> UInt8(bit % 8)) }
        return bytes.withUnsafeBytes { IPAddress(bytes: $0) }!
    }
}
