/// A UDP endpoint: an address and a port, written `192.0.2.6:4500` or `[2001:db8::6]:4500`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The address.
    public var address: IPAddress
    /// The UDP port.
    public var port: UInt16

    /// Creates an endpoint.
    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// A port written as plain decimal digits (no sign, no leading zero), or nil.
    static func port(_ text: Substring) -> UInt16? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), text.count == 1 || !text.hasPrefix("0") else { return nil }
        return UInt16(text)
    }

    /// Parses `ADDRESS:PORT` (IPv4) or `[ADDRESS]:PORT` (IPv6); nil when malformed.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":"),
                let address = IPAddress(text[text.index(after: text.startIndex)..<close]), !address.isIPv4,
                let port = Self.port(text[text.index(close, offsetBy: 2)...])
            else { return nil }
            self.init(address: address, port: port)
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let address = IPAddress(parts[0]), let port = Self.port(parts[1]) else { return nil }
            self.init(address: address, port: port)
        }
    }

    /// `ADDRESS:PORT`, with brackets around an IPv6 address.
    public var description: String { address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
}
