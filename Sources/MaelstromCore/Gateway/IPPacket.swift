/// Just enough of IPv4 and IPv6 headers to route a packet and to refuse what is not a packet.
public enum IPPacket {
    /// The destination address of an IPv4 or IPv6 packet, or nil when the bytes are not one.
    @inlinable
    public static func destination(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        guard packet.count >= 20, let base = packet.baseAddress else { return nil }
        switch base.load(as: UInt8.self) >> 4 {
        case 4:
            return .v4(UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
        case 6:
            guard packet.count >= 40 else { return nil }
            return .v6(
                high: UInt64(bigEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
                low: UInt64(bigEndian: base.loadUnaligned(fromByteOffset: 32, as: UInt64.self)))
        default:
            return nil
        }
    }

    /// Whether the bytes are a plausible IP packet whose header agrees with its length.
    ///
    /// Checked before anything is written to the TUN device, so that bytes which only look
    /// like a frame never reach the kernel as a packet.
    @inlinable
    public static func isWellFormed(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard packet.count >= 20, let base = packet.baseAddress else { return false }
        let first = base.load(as: UInt8.self)
        switch first >> 4 {
        case 4:
            let headerLength = Int(first & 0x0F) * 4
            let totalLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            return headerLength >= 20 && totalLength == packet.count && headerLength <= totalLength
        case 6:
            guard packet.count >= 40 else { return false }
            let payloadLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
            return payloadLength + 40 == packet.count
        default:
            return false
        }
    }
}
