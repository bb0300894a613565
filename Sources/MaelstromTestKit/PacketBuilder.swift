import MaelstromCore

/// Builds real IPv4 and IPv6 packets (UDP, TCP SYN) with correct checksums, for tests.
public enum PacketBuilder {
    /// An IPv4 UDP packet from `source` to `destination` carrying `payload`.
    public static func udp4(
        from source: String, to destination: String, sourcePort: UInt16 = 40000, destinationPort: UInt16 = 9,
        payload: [UInt8]
    ) -> [UInt8] {
        var udp = be16(sourcePort) + be16(destinationPort) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        let pseudo = addressBytes(source) + addressBytes(destination) + [0, 17] + be16(UInt16(udp.count))
        let checksum = internetChecksum(pseudo + udp)
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xFF)
        return ipv4Header(from: source, to: destination, protocol: 17, payloadLength: udp.count) + udp
    }

    /// An IPv4 TCP SYN from `source` to `destination` with an MSS option of `mss`.
    public static func tcpSYN4(from source: String, to destination: String, mss: UInt16, ack: Bool = false) -> [UInt8] {
        let tcp = tcpSYN(mss: mss, ack: ack, pseudoHeader: { length in
            addressBytes(source) + addressBytes(destination) + [0, 6] + be16(UInt16(length))
        })
        return ipv4Header(from: source, to: destination, protocol: 6, payloadLength: tcp.count) + tcp
    }

    /// An IPv6 TCP SYN from `source` to `destination` with an MSS option of `mss`.
    public static func tcpSYN6(from source: String, to destination: String, mss: UInt16) -> [UInt8] {
        let tcp = tcpSYN(mss: mss, ack: false, pseudoHeader: { length in
            addressBytes(source) + addressBytes(destination) + be32(UInt32(length)) + [0, 0, 0, 6]
        })
        let header: [UInt8] = [0x60, 0, 0, 0] + be16(UInt16(tcp.count)) + [6, 64] + addressBytes(source) + addressBytes(destination)
        return header + tcp
    }

    /// An IPv6 UDP packet (checksum left zero: tests of routing only).
    public static func udp6(from source: String, to destination: String, payload: [UInt8]) -> [UInt8] {
        let udp = be16(40000) + be16(9) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        return [0x60, 0, 0, 0] + be16(UInt16(udp.count)) + [17, 64] + addressBytes(source) + addressBytes(destination) + udp
    }

    /// A TCP segment over IPv4 or IPv6 (by the addresses' family) with valid checksums.
    public static func tcp(
        from source: String, to destination: String, sourcePort: UInt16 = 40001, destinationPort: UInt16 = 5201,
        sequence: UInt32, acknowledgment: UInt32 = 77, flags: UInt8 = 0x10, options: [UInt8] = [], payload: [UInt8],
        id: UInt16 = 0x1234, ttl: UInt8 = 64, tos: UInt8 = 0, dontFragment: Bool = true
    ) -> [UInt8] {
        precondition(options.count % 4 == 0 && options.count <= 40, "TCP options come in words")
        var tcp = be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgment)
            + [UInt8((20 + options.count) / 4) << 4, flags] + be16(3000) + [0, 0, 0, 0] + options + payload
        let isIPv4 = IPAddress(source)?.isIPv4 ?? true
        let pseudo = isIPv4
            ? addressBytes(source) + addressBytes(destination) + [0, 6] + be16(UInt16(tcp.count))
            : addressBytes(source) + addressBytes(destination) + be32(UInt32(tcp.count)) + [0, 0, 0, 6]
        let checksum = internetChecksum(pseudo + tcp)
        tcp[16] = UInt8(checksum >> 8)
        tcp[17] = UInt8(checksum & 0xFF)
        if isIPv4 {
            var header: [UInt8] = [0x45, tos] + be16(UInt16(20 + tcp.count)) + be16(id) + [dontFragment ? 0x40 : 0, 0, ttl, 6, 0, 0]
                + addressBytes(source) + addressBytes(destination)
            let headerChecksum = internetChecksum(header)
            header[10] = UInt8(headerChecksum >> 8)
            header[11] = UInt8(headerChecksum & 0xFF)
            return header + tcp
        }
        return [0x60 | (tos >> 4), (tos & 0x0F) << 4, 0, 0] + be16(UInt16(tcp.count)) + [6, ttl] + addressBytes(source)
            + addressBytes(destination) + tcp
    }

    /// A UDP datagram over IPv4 or IPv6 (by the addresses' family) with valid checksums.
    public static func udp(from source: String, to destination: String, id: UInt16 = 0x4321, payload: [UInt8]) -> [UInt8] {
        var udp = be16(40000) + be16(9) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        let isIPv4 = IPAddress(source)?.isIPv4 ?? true
        let pseudo = isIPv4
            ? addressBytes(source) + addressBytes(destination) + [0, 17] + be16(UInt16(udp.count))
            : addressBytes(source) + addressBytes(destination) + be32(UInt32(udp.count)) + [0, 0, 0, 17]
        var checksum = internetChecksum(pseudo + udp)
        if checksum == 0 { checksum = 0xFFFF }
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xFF)
        if isIPv4 {
            var header: [UInt8] = [0x45, 0] + be16(UInt16(20 + udp.count)) + be16(id) + [0x40, 0, 64, 17, 0, 0]
                + addressBytes(source) + addressBytes(destination)
            let headerChecksum = internetChecksum(header)
            header[10] = UInt8(headerChecksum >> 8)
            header[11] = UInt8(headerChecksum & 0xFF)
            return header + udp
        }
        return [0x60, 0, 0, 0] + be16(UInt16(udp.count)) + [17, 64] + addressBytes(source) + addressBytes(destination) + udp
    }

    /// Whether the IPv4 header checksum of a packet is right (true for IPv6, which has none).
    public static func ipv4HeaderChecksumIsValid(_ packet: [UInt8]) -> Bool {
        guard packet[0] >> 4 == 4 else { return true }
        return internetChecksum(Array(packet[0..<(Int(packet[0] & 0x0F) * 4)])) == 0
    }

    /// Whether the transport checksum of an IPv4 or IPv6 TCP or UDP packet (no extension headers) is right.
    public static func transportChecksumIsValid(_ packet: [UInt8]) -> Bool {
        let isIPv4 = packet[0] >> 4 == 4
        let offset = isIPv4 ? Int(packet[0] & 0x0F) * 4 : 40
        let proto = isIPv4 ? packet[9] : packet[6]
        let segment = Array(packet[offset...])
        let pseudo = isIPv4
            ? Array(packet[12..<20]) + [0, proto] + be16(UInt16(segment.count))
            : Array(packet[8..<40]) + be32(UInt32(segment.count)) + [0, 0, 0, proto]
        return internetChecksum(pseudo + segment) == 0
    }

    /// Whether the TCP checksum of an IPv4 or IPv6 TCP packet is right.
    public static func tcpChecksumIsValid(_ packet: [UInt8]) -> Bool {
        if packet[0] >> 4 == 4 {
            let headerLength = Int(packet[0] & 0x0F) * 4
            let tcp = Array(packet[headerLength...])
            let pseudo = Array(packet[12..<20]) + [0, 6] + be16(UInt16(tcp.count))
            return internetChecksum(pseudo + tcp) == 0
        }
        let tcp = Array(packet[40...])
        let pseudo = Array(packet[8..<40]) + be32(UInt32(tcp.count)) + [0, 0, 0, 6]
        return internetChecksum(pseudo + tcp) == 0
    }

    /// The MSS option value of a TCP SYN built here.
    public static func mss(of packet: [UInt8]) -> UInt16 {
        let offset = packet[0] >> 4 == 4 ? Int(packet[0] & 0x0F) * 4 : 40
        return UInt16(packet[offset + 22]) << 8 | UInt16(packet[offset + 23])
    }

    /// The ones'-complement checksum of RFC 1071.
    public static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    private static func tcpSYN(mss: UInt16, ack: Bool, pseudoHeader: (Int) -> [UInt8]) -> [UInt8] {
        // 20-byte header + options: MSS, NOP, window scale, SACK permitted, NOP NOP (12 bytes).
        var tcp: [UInt8] = be16(40001) + be16(5201) + be32(1000) + be32(ack ? 7 : 0) + [0x80, ack ? 0x12 : 0x02] + be16(64240)
            + [0, 0, 0, 0]
        tcp += [2, 4] + be16(mss) + [1, 3, 3, 7, 4, 2, 1, 1]
        let checksum = internetChecksum(pseudoHeader(tcp.count) + tcp)
        tcp[16] = UInt8(checksum >> 8)
        tcp[17] = UInt8(checksum & 0xFF)
        return tcp
    }

    private static func ipv4Header(from source: String, to destination: String, protocol: UInt8, payloadLength: Int) -> [UInt8] {
        var header: [UInt8] = [0x45, 0] + be16(UInt16(20 + payloadLength)) + [0x12, 0x34, 0x40, 0, 64, `protocol`, 0, 0]
            + addressBytes(source) + addressBytes(destination)
        let checksum = internetChecksum(header)
        header[10] = UInt8(checksum >> 8)
        header[11] = UInt8(checksum & 0xFF)
        return header
    }

    private static func addressBytes(_ text: String) -> [UInt8] {
        guard let address = IPAddress(text) else { preconditionFailure("bad test address \(text)") }
        return address.bytes
    }

    /// A 16-bit value in network order.
    public static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    /// A 32-bit value in network order.
    public static func be32(_ value: UInt32) -> [UInt8] { be16(UInt16(value >> 16)) + be16(UInt16(value & 0xFFFF)) }
}
