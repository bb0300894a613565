import MaelstromCore
import CTun
import Glibc

/// An IPv4 or IPv6 address with a UDP port, as the kernel sees it.
///
/// A plain value (no references), so building one per received datagram does not allocate.
/// Text form: `1.2.3.4:4500`, `[::1]:4500`, and `[fe80::1%2]:4500` for a scoped address
/// (numeric interface index only).
public struct SocketAddress: Sendable, Hashable, LosslessStringConvertible {
    /// Address family.
    public enum Family: Sendable, Hashable {
        /// IPv4: 4 address bytes.
        case ipv4
        /// IPv6: 16 address bytes.
        case ipv6
    }

    /// The 16 address bytes in network order (IPv4 uses the first 4); two words keep it Hashable and copyable.
    @usableFromInline
    struct RawBytes: Hashable, Sendable {
        @usableFromInline var high: UInt64 = 0
        @usableFromInline var low: UInt64 = 0
        @usableFromInline init() {}
    }

    /// Address family.
    public let family: Family
    /// Port in host byte order.
    public let port: UInt16
    /// IPv6 scope (interface index) for link-local addresses; 0 otherwise.
    public let scopeID: UInt32
    @usableFromInline let raw: RawBytes

    /// Creates an address from its raw bytes (4 for IPv4, 16 for IPv6) in network order; nil for any other count.
    public init?<Bytes: Collection>(addressBytes: Bytes, port: UInt16, scopeID: UInt32 = 0)
    where Bytes.Element == UInt8 {
        let family: Family
        switch addressBytes.count {
        case 4: family = .ipv4
        case 16: family = .ipv6
        default: return nil
        }
        var raw = RawBytes()
        withUnsafeMutableBytes(of: &raw) { dst in
            for (i, byte) in addressBytes.enumerated() { dst[i] = byte }
        }
        self.init(family: family, raw: raw, port: port, scopeID: family == .ipv6 ? scopeID : 0)
    }

    @usableFromInline
    init(family: Family, raw: RawBytes, port: UInt16, scopeID: UInt32) {
        self.family = family
        self.raw = raw
        self.port = port
        self.scopeID = scopeID
    }

    /// Number of address bytes: 4 or 16.
    @inlinable
    public var addressByteCount: Int { family == .ipv4 ? 4 : 16 }

    /// Calls `body` with the 4 or 16 address bytes in network order, without allocating.
    @inlinable
    public func withUnsafeAddressBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: raw) { all in
            try body(UnsafeRawBufferPointer(rebasing: all[0..<addressByteCount]))
        }
    }

    /// The 4 or 16 address bytes in network order (allocates: for the control plane).
    public var addressBytes: [UInt8] { withUnsafeAddressBytes { Array($0) } }
}

// MARK: - Text

extension SocketAddress {
    /// Parses `a.b.c.d:port` or `[ipv6]:port` (optionally `[ipv6%index]:port`); nil if malformed.
    public init?(_ description: String) {
        let text = Substring(description)
        let hostText: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let after = text[text.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            hostText = text[text.index(after: text.startIndex)..<close]
            portText = after.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
            if hostText.contains(":") { return nil }  // bare IPv6 needs brackets to separate the port
        }
        guard let port = Self.decimal(portText, max: UInt32(UInt16.max)) else { return nil }

        var raw = RawBytes()
        if text.hasPrefix("[") {
            var addressText = hostText
            var scope: UInt32 = 0
            if let percent = hostText.firstIndex(of: "%") {
                guard let value = Self.decimal(hostText[hostText.index(after: percent)...], max: UInt32.max)
                else { return nil }
                scope = value
                addressText = hostText[..<percent]
            }
            let ok = withUnsafeMutableBytes(of: &raw) { inet_pton(AF_INET6, String(addressText), $0.baseAddress) == 1 }
            guard ok else { return nil }
            self.init(family: .ipv6, raw: raw, port: UInt16(port), scopeID: scope)
        } else {
            let ok = withUnsafeMutableBytes(of: &raw) { inet_pton(AF_INET, String(hostText), $0.baseAddress) == 1 }
            guard ok else { return nil }
            self.init(family: .ipv4, raw: raw, port: UInt16(port), scopeID: 0)
        }
    }

    /// `1.2.3.4:4500` or `[::1]:4500` (with `%index` when scoped); parses back with `init?(_:)`.
    public var description: String {
        var host = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> String in
            let af = family == .ipv4 ? AF_INET : AF_INET6
            let text = withUnsafeBytes(of: raw) { inet_ntop(af, $0.baseAddress, buffer.baseAddress, 64) }
            return text.map { String(cString: $0) } ?? "?"
        }
        if family == .ipv4 { return "\(host):\(port)" }
        if scopeID != 0 { host += "%\(scopeID)" }
        return "[\(host)]:\(port)"
    }

    /// Strict decimal: ASCII digits only (no sign, no spaces), at most `max`.
    private static func decimal(_ text: Substring, max: UInt32) -> UInt32? {
        guard !text.isEmpty, text.utf8.count <= 10 else { return nil }
        var value: UInt64 = 0
        for byte in text.utf8 {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        return value <= UInt64(max) ? UInt32(value) : nil
    }
}

// MARK: - sockaddr

extension SocketAddress {
    /// Reads an `AF_INET`/`AF_INET6` socket address; nil for any other family.
    @inlinable
    public init?(storage: UnsafePointer<sockaddr_storage>) {
        let pointer = UnsafeRawPointer(storage)
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let sin = pointer.load(as: sockaddr_in.self)
            var raw = RawBytes()
            withUnsafeMutableBytes(of: &raw) { dst in
                withUnsafeBytes(of: sin.sin_addr) { dst.copyMemory(from: $0) }
            }
            self.init(family: .ipv4, raw: raw, port: UInt16(bigEndian: sin.sin_port), scopeID: 0)
        case AF_INET6:
            let sin6 = pointer.load(as: sockaddr_in6.self)
            var raw = RawBytes()
            withUnsafeMutableBytes(of: &raw) { dst in
                withUnsafeBytes(of: sin6.sin6_addr) { dst.copyMemory(from: $0) }
            }
            self.init(family: .ipv6, raw: raw, port: UInt16(bigEndian: sin6.sin6_port), scopeID: sin6.sin6_scope_id)
        default:
            return nil
        }
    }

    /// Writes this address as a `sockaddr_in`/`sockaddr_in6` and returns its length.
    @inlinable
    @discardableResult
    public func write(to storage: UnsafeMutablePointer<sockaddr_storage>) -> socklen_t {
        let pointer = UnsafeMutableRawPointer(storage)
        switch family {
        case .ipv4:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { dst in
                withUnsafeBytes(of: raw) { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<4])) }
            }
            pointer.storeBytes(of: sin, as: sockaddr_in.self)
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .ipv6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { dst in
                withUnsafeBytes(of: raw) { dst.copyMemory(from: $0) }
            }
            pointer.storeBytes(of: sin6, as: sockaddr_in6.self)
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }

    /// Calls `body` with this address as a `sockaddr` pointer and length (for bind, connect, sendto).
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        var storage = sockaddr_storage()
        let length = write(to: &storage)
        return try withUnsafePointer(to: &storage) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}

extension SocketAddress {
    /// The core's view of this address (address bytes and port).
    public var endpoint: Endpoint? {
        withUnsafeAddressBytes { bytes in IPAddress(bytes: bytes).map { Endpoint(address: $0, port: port) } }
    }

    /// The socket address of a core endpoint.
    public init?(_ endpoint: Endpoint) {
        self.init(addressBytes: endpoint.address.bytes, port: endpoint.port)
    }
}
