/// Lowers the MSS option of TCP SYN packets so that TCP never sends more than the tunnel carries.
///
/// Path-MTU discovery depends on ICMP "fragmentation needed", which many networks filter; with
/// the MSS clamped, TCP works either way (issue #3, item 4).
public enum MSSClamp {
    /// Clamps in place; returns true when the packet was changed.
    ///
    /// Handles IPv4 (unfragmented) and IPv6 with TCP as the first next header; the TCP checksum
    /// is updated incrementally (RFC 1624), so nothing else in the packet is touched.
    @discardableResult
    public static func clamp(_ packet: UnsafeMutableRawBufferPointer, ipv4MSS: Int, ipv6MSS: Int) -> Bool {
        guard packet.count >= 40, let base = packet.baseAddress else { return false }
        let first = base.load(as: UInt8.self)
        let tcpOffset: Int
        let limit: Int
        switch first >> 4 {
        case 4:
            let headerLength = Int(first & 0x0F) * 4
            let fragment = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x3FFF
            guard base.load(fromByteOffset: 9, as: UInt8.self) == 6, headerLength >= 20, fragment == 0 else { return false }
            tcpOffset = headerLength
            limit = ipv4MSS
        case 6:
            guard base.load(fromByteOffset: 6, as: UInt8.self) == 6 else { return false }
            tcpOffset = 40
            limit = ipv6MSS
        default:
            return false
        }
        guard packet.count >= tcpOffset + 20 else { return false }
        let flags = base.load(fromByteOffset: tcpOffset + 13, as: UInt8.self)
        guard flags & 0x02 != 0 else { return false }  // SYN (and SYN-ACK)
        let dataOffset = Int(base.load(fromByteOffset: tcpOffset + 12, as: UInt8.self) >> 4) * 4
        guard dataOffset > 20, tcpOffset + dataOffset <= packet.count else { return false }
        var option = tcpOffset + 20
        let end = tcpOffset + dataOffset
        while option < end {
            let kind = base.load(fromByteOffset: option, as: UInt8.self)
            if kind == 0 { return false }  // end of options
            if kind == 1 {  // no-operation
                option += 1
                continue
            }
            guard option + 1 < end else { return false }
            let length = Int(base.load(fromByteOffset: option + 1, as: UInt8.self))
            guard length >= 2, option + length <= end else { return false }
            if kind == 2 && length == 4 {
                let current = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: option + 2, as: UInt16.self))
                guard Int(current) > limit, limit > 0 else { return false }
                let clamped = UInt16(limit)
                base.storeBytes(of: clamped.bigEndian, toByteOffset: option + 2, as: UInt16.self)
                let checksumOffset = tcpOffset + 16
                let checksum = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: checksumOffset, as: UInt16.self))
                // The checksum sums 16-bit words from the TCP header's start: a value at an odd
                // offset straddles two words, which the byte-swapped sum accounts for.
                let odd = (option + 2 - tcpOffset) % 2 == 1
                let updated = adjustedChecksum(
                    checksum, old: odd ? current.byteSwapped : current, new: odd ? clamped.byteSwapped : clamped)
                base.storeBytes(of: updated.bigEndian, toByteOffset: checksumOffset, as: UInt16.self)
                return true
            }
            option += length
        }
        return false
    }

    /// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
    static func adjustedChecksum(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        var sum = UInt32(~checksum) + UInt32(~old) + UInt32(new)
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
