import MaelstromCore

/// An address assigned to an interface with its prefix length, such as `172.31.255.1/30`.
///
/// Unlike `IPPrefix` it keeps the host bits: they are the interface's own address.
public struct InterfaceAddress: Hashable, Sendable, CustomStringConvertible {
    /// The interface's own address.
    public let address: IPAddress
    /// Length of the on-link network, in bits.
    public let prefixLength: Int

    /// Creates an interface address; nil when `prefixLength` does not fit the address family.
    public init?(address: IPAddress, prefixLength: Int) {
        guard prefixLength >= 0 && prefixLength <= address.bitWidth else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// `ADDRESS/LENGTH`, the form `ip address add` takes.
    public var description: String { "\(address)/\(prefixLength)" }
}
