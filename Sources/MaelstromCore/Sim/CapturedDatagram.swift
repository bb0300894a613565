/// The link layers of the packet captures `maelstromd trace` reads (libpcap's DLT values).
///
/// Only the ones a capture on a gateway's WAN side produces: an Ethernet interface, `tcpdump -i
/// any` (Linux cooked, v1 or v2), a TUN or WireGuard-like interface (raw IP) and BSD loopback.
public enum CaptureLinkType: Sendable, Equatable, CustomStringConvertible {
    /// DLT_EN10MB: Ethernet II, with up to two 802.1Q/802.1ad tags.
    case ethernet
    /// DLT_LINUX_SLL: the 16-byte Linux cooked header (`tcpdump -i any` before libpcap 1.10).
    case linuxCooked
    /// DLT_LINUX_SLL2: the 20-byte Linux cooked header v2 (`tcpdump -i any` since libpcap 1.10).
    case linuxCooked2
    /// DLT_RAW, DLT_IPV4, DLT_IPV6: an IP packet with nothing in front (version in its first nibble).
    case rawIP
    /// DLT_NULL, DLT_LOOP: a 4-byte address family (host or network order) in front.
    case null

    /// The link type of libpcap's `pcap_datalink` value, or nil when it is not one of these.
    ///
    /// DLT_RAW is 12 on Linux and 14 on OpenBSD, and a file's LINKTYPE_RAW is 101: all are taken,
    /// since a capture may come from another machine.
    public init?(dlt: Int) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxCooked
        case 276: self = .linuxCooked2
        case 12, 14, 101, 228, 229: self = .rawIP
        case 0, 108: self = .null
        default: return nil
        }
    }

    /// libpcap's name of the type.
    public var description: String {
        switch self {
        case .ethernet: "EN10MB"
        case .linuxCooked: "LINUX_SLL"
        case .linuxCooked2: "LINUX_SLL2"
        case .rawIP: "RAW"
        case .null: "NULL"
        }
    }
}

/// A UDP datagram found in a captured packet: its endpoints and where its payload lies.
public struct CapturedDatagram: Sendable, Equatable {
    /// The UDP source: the sending gateway's WAN endpoint for frames arriving at the capture point.
    public var source: Endpoint
    /// The UDP destination.
    public var destination: Endpoint
    /// The UDP payload's bytes within the captured packet: at most what the snap length kept.
    public var payload: Range<Int>
    /// The payload's length on the wire, from the UDP header (more than `payload.count` when the
    /// capture was truncated).
    public var wireLength: Int

    /// Creates a datagram.
    public init(source: Endpoint, destination: Endpoint, payload: Range<Int>, wireLength: Int) {
        self.source = source
        self.destination = destination
        self.payload = payload
        self.wireLength = wireLength
    }
}

/// What a captured packet turned out to be.
public enum CapturedPacket: Sendable, Equatable {
    /// A UDP datagram (its first fragment, when fragmented).
    case udp(CapturedDatagram)
    /// Not IPv4 or IPv6 (ARP, LLDP, …).
    case notIP
    /// IP, but not UDP (TCP, ICMP, …).
    case notUDP
    /// A fragment after the first: it has no UDP header, so it cannot be placed.
    case laterFragment
    /// Cut off (by the snap length or a bad length field) before the end of the UDP header.
    case truncated

    /// Finds the UDP datagram in `bytes`, a packet captured on a link of `linkType`.
    ///
    /// Pure and bounds-checked: any bytes give an answer, never a trap, so a damaged capture
    /// only costs its damaged packets.
    public static func parse(_ bytes: UnsafeRawBufferPointer, linkType: CaptureLinkType) -> CapturedPacket {
        let reader = ByteReader(bytes: bytes)
        switch linkType {
        case .ethernet:
            guard let type = reader.u16(12) else { return .truncated }
            return etherType(type, at: 14, reader)
        case .linuxCooked:
            guard let type = reader.u16(14) else { return .truncated }
            return etherType(type, at: 16, reader)
        case .linuxCooked2:
            guard reader.count >= 20, let type = reader.u16(0) else { return .truncated }
            return etherType(type, at: 20, reader)
        case .rawIP:
            guard let first = reader.u8(0) else { return .truncated }
            switch first >> 4 {
            case 4: return ipv4(at: 0, reader)
            case 6: return ipv6(at: 0, reader)
            default: return .notIP
            }
        case .null:
            guard let raw = reader.u32(0) else { return .truncated }
            // The family is in the capturing host's byte order; AF_INET is 2 everywhere, AF_INET6
            // 10 (Linux), 24, 28 or 30 (the BSDs).
            let family = raw > 0xFFFF ? raw.byteSwapped : raw
            switch family {
            case 2: return ipv4(at: 4, reader)
            case 10, 24, 28, 30: return ipv6(at: 4, reader)
            default: return .notIP
            }
        }
    }

    /// Same, for a packet held in an array (tests, small tools).
    public static func parse(_ bytes: [UInt8], linkType: CaptureLinkType) -> CapturedPacket {
        bytes.withUnsafeBytes { parse($0, linkType: linkType) }
    }

    private static func etherType(_ type: UInt16, at offset: Int, _ reader: ByteReader) -> CapturedPacket {
        var type = type
        var offset = offset
        // 802.1Q (0x8100) and 802.1ad (0x88A8, QinQ's outer tag): 4 bytes each before the real type.
        var tags = 0
        while type == 0x8100 || type == 0x88A8 {
            guard tags < 2, let inner = reader.u16(offset + 2) else { return tags < 2 ? .truncated : .notIP }
            type = inner
            offset += 4
            tags += 1
        }
        switch type {
        case 0x0800: return ipv4(at: offset, reader)
        case 0x86DD: return ipv6(at: offset, reader)
        default: return .notIP
        }
    }

    private static func ipv4(at offset: Int, _ reader: ByteReader) -> CapturedPacket {
        guard let first = reader.u8(offset), first >> 4 == 4 else { return reader.u8(offset) == nil ? .truncated : .notIP }
        let headerLength = Int(first & 0x0F) * 4
        guard headerLength >= 20 else { return .notIP }
        guard let totalLength = reader.u16(offset + 2), let fragment = reader.u16(offset + 6),
            let proto = reader.u8(offset + 9), let source = reader.u32(offset + 12), let destination = reader.u32(offset + 16)
        else { return .truncated }
        guard proto == 17 else { return .notUDP }
        guard fragment & 0x1FFF == 0 else { return .laterFragment }
        // A total length of 0 is TSO's "as long as the frame"; otherwise it bounds the datagram.
        let end = totalLength == 0 ? Int.max : offset + Int(totalLength)
        return udp(at: offset + headerLength, end: end, source: .v4(source), destination: .v4(destination), reader)
    }

    private static func ipv6(at offset: Int, _ reader: ByteReader) -> CapturedPacket {
        guard let first = reader.u8(offset), first >> 4 == 6 else { return reader.u8(offset) == nil ? .truncated : .notIP }
        guard let payloadLength = reader.u16(offset + 4), var next = reader.u8(offset + 6),
            let sourceHigh = reader.u64(offset + 8), let sourceLow = reader.u64(offset + 16),
            let destinationHigh = reader.u64(offset + 24), let destinationLow = reader.u64(offset + 32)
        else { return .truncated }
        // A payload length of 0 is a jumbogram or GSO: the captured bytes are all there is to go by.
        let end = payloadLength == 0 ? Int.max : offset + 40 + Int(payloadLength)
        var position = offset + 40
        // Extension headers in front of UDP: hop-by-hop, routing, destination options, fragment.
        // A bounded walk: eight of them is already more than any real packet carries.
        for _ in 0..<8 {
            switch next {
            case 17:
                return udp(
                    at: position, end: end, source: .v6(high: sourceHigh, low: sourceLow),
                    destination: .v6(high: destinationHigh, low: destinationLow), reader)
            case 0, 43, 60:
                guard let following = reader.u8(position), let length = reader.u8(position + 1) else { return .truncated }
                next = following
                position += (Int(length) + 1) * 8
            case 44:
                guard let following = reader.u8(position), let fragment = reader.u16(position + 2) else { return .truncated }
                guard fragment & 0xFFF8 == 0 else { return .laterFragment }
                next = following
                position += 8
            default:
                return .notUDP
            }
        }
        return .notUDP
    }

    private static func udp(at offset: Int, end: Int, source: IPAddress, destination: IPAddress, _ reader: ByteReader) -> CapturedPacket {
        guard let sourcePort = reader.u16(offset), let destinationPort = reader.u16(offset + 2), let length = reader.u16(offset + 4)
        else { return .truncated }
        let start = offset + 8
        // The UDP length field is the wire length; when 0 (a jumbogram) or wrong, the IP length decides.
        var wireLength = Int(length) - 8
        if wireLength < 0 || start + wireLength > end {
            wireLength = max(0, end == .max ? reader.count - start : end - start)
        }
        let capturedEnd = min(reader.count, start + wireLength)
        guard capturedEnd >= start else { return .truncated }
        return .udp(
            CapturedDatagram(
                source: Endpoint(address: source, port: sourcePort),
                destination: Endpoint(address: destination, port: destinationPort),
                payload: start..<capturedEnd, wireLength: wireLength))
    }
}

/// Bounds-checked big-endian reads: nil past the end instead of a trap.
private struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var count: Int { bytes.count }

    func u8(_ offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    func u16(_ offset: Int) -> UInt16? {
        guard offset >= 0, offset <= bytes.count - 2 else { return nil }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    func u32(_ offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        return bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).bigEndian
    }

    func u64(_ offset: Int) -> UInt64? {
        guard offset >= 0, offset <= bytes.count - 8 else { return nil }
        return bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).bigEndian
    }
}
