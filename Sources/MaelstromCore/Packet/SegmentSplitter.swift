/// Cuts a TCP or UDP super-segment read from a TUN device (TSO/USO) into the packets the wire
/// would have carried, and completes partial checksums.
///
/// Each segment gets the super-segment's headers with its own lengths, IPv4 ID (+1 per segment)
/// and header checksum, TCP sequence number (+`gsoSize` per segment), TCP flags (FIN and PSH
/// only on the last, CWR only on the first) and a full transport checksum, so every packet that
/// reaches the encoder is a complete, valid IP packet. Pure: no allocation, no system call.
public enum SegmentSplitter {
    /// How a super-segment divides.
    public struct Plan: Sendable, Equatable {
        /// Number of segments.
        public var segments: Int
        /// Bytes of IP and transport headers copied in front of every segment.
        public var headerLength: Int
        /// Offset of the transport header (the IP header's length).
        public var transportOffset: Int
        /// Payload bytes of every segment but perhaps the last.
        public var gsoSize: Int
        /// Payload bytes in all.
        public var payloadLength: Int
        /// TCP (else UDP).
        public var isTCP: Bool
        /// IPv4 (else IPv6).
        public var isIPv4: Bool

        /// Describes a division.
        @inlinable
        public init(segments: Int, headerLength: Int, transportOffset: Int, gsoSize: Int, payloadLength: Int, isTCP: Bool, isIPv4: Bool) {
            self.segments = segments
            self.headerLength = headerLength
            self.transportOffset = transportOffset
            self.gsoSize = gsoSize
            self.payloadLength = payloadLength
            self.isTCP = isTCP
            self.isIPv4 = isIPv4
        }

        /// Total length of segment `index`.
        @inlinable
        public func length(of index: Int) -> Int {
            headerLength + min(gsoSize, payloadLength - index * gsoSize)
        }
    }

    /// How `packet` divides, or nil when its headers do not agree with the virtio-net header
    /// (such a read is dropped and counted, never trusted).
    @inlinable
    public static func plan(_ packet: UnsafeRawBufferPointer, header: VirtioNetHeader) -> Plan? {
        guard let type = header.gsoType, type != .none, let base = packet.baseAddress, packet.count >= 28 else { return nil }
        let version = base.load(as: UInt8.self) >> 4
        let isIPv4: Bool
        let transportOffset = Int(header.checksumStart)
        switch (type, version) {
        case (.tcpv4, 4), (.udpL4, 4):
            isIPv4 = true
            guard Int(base.load(as: UInt8.self) & 0x0F) * 4 == transportOffset, transportOffset >= 20 else { return nil }
        case (.tcpv6, 6), (.udpL4, 6):
            isIPv4 = false
            guard transportOffset >= 40 else { return nil }
        default:
            return nil
        }
        let isTCP = type != .udpL4
        let transportHeader: Int
        if isTCP {
            guard header.checksumOffset == 16, packet.count >= transportOffset + 20 else { return nil }
            transportHeader = Int(base.load(fromByteOffset: transportOffset + 12, as: UInt8.self) >> 4) * 4
            guard transportHeader >= 20 else { return nil }
        } else {
            guard header.checksumOffset == 6 else { return nil }
            transportHeader = 8
        }
        let headerLength = transportOffset + transportHeader
        let gsoSize = Int(header.gsoSize)
        guard gsoSize >= 1, packet.count > headerLength, headerLength + gsoSize <= 65535 else { return nil }
        let payload = packet.count - headerLength
        return Plan(
            segments: (payload + gsoSize - 1) / gsoSize, headerLength: headerLength, transportOffset: transportOffset,
            gsoSize: gsoSize, payloadLength: payload, isTCP: isTCP, isIPv4: isIPv4)
    }

    /// Writes segment `index` of `packet` as planned into `destination` (room for
    /// `plan.length(of: index)` bytes) and returns its length.
    @inlinable
    public static func writeSegment(
        _ index: Int, of packet: UnsafeRawBufferPointer, plan: Plan, into destination: UnsafeMutableRawPointer
    ) -> Int {
        let source = packet.baseAddress!
        let offset = index * plan.gsoSize
        let payload = min(plan.gsoSize, plan.payloadLength - offset)
        let total = plan.headerLength + payload
        destination.copyMemory(from: source, byteCount: plan.headerLength)
        // The payload is summed as it is copied; the transport header (an even number of bytes,
        // so the sums add up) is summed once its fields are final.
        let payloadSum = InternetChecksum.copyAndSum(
            from: source + plan.headerLength + offset, to: destination + plan.headerLength, count: payload)
        if plan.isIPv4 {
            destination.storeBigEndian(UInt16(truncatingIfNeeded: total), at: 2)
            let id = source.loadBigEndianUInt16(at: 4) &+ UInt16(truncatingIfNeeded: index)
            destination.storeBigEndian(id, at: 4)
            destination.storeBytes(of: 0, toByteOffset: 10, as: UInt16.self)
            let ipChecksum = InternetChecksum.checksum(InternetChecksum.sum(destination, count: plan.transportOffset))
            destination.storeNetworkOrder(ipChecksum, at: 10)
        } else {
            destination.storeBigEndian(UInt16(truncatingIfNeeded: total - 40), at: 4)
        }
        let transport = destination + plan.transportOffset
        let transportLength = total - plan.transportOffset
        let checksumField: Int
        if plan.isTCP {
            let sequence = source.loadBigEndianUInt32(at: plan.transportOffset + 4) &+ UInt32(truncatingIfNeeded: offset)
            transport.storeBigEndian(sequence, at: 4)
            var flags = transport.load(fromByteOffset: 13, as: UInt8.self)
            if index != plan.segments - 1 { flags &= ~(0x01 | 0x08) }  // FIN and PSH on the last only
            if index != 0 { flags &= ~0x80 }  // CWR on the first only
            transport.storeBytes(of: flags, toByteOffset: 13, as: UInt8.self)
            checksumField = 16
        } else {
            transport.storeBigEndian(UInt16(truncatingIfNeeded: transportLength), at: 4)
            checksumField = 6
        }
        transport.storeBytes(of: 0, toByteOffset: checksumField, as: UInt16.self)
        let pseudo = InternetChecksum.pseudoHeaderSum(ip: destination, proto: plan.isTCP ? 6 : 17, length: transportLength)
        let headerSum = InternetChecksum.sum(transport, count: plan.headerLength - plan.transportOffset, initial: pseudo &+ payloadSum)
        var checksum = InternetChecksum.checksum(headerSum)
        if !plan.isTCP && checksum == 0 { checksum = 0xFFFF }  // 0 means "no checksum" for UDP
        transport.storeNetworkOrder(checksum, at: checksumField)
        return total
    }

    /// Completes a checksum left partial (`NEEDS_CSUM` on one packet): the field holds the pseudo
    /// header's sum; the rest of the transport segment is added to it. False when the offsets do
    /// not fit the packet (the packet is then dropped).
    @inlinable
    public static func completeChecksum(_ packet: UnsafeMutableRawBufferPointer, header: VirtioNetHeader) -> Bool {
        let start = Int(header.checksumStart)
        let field = start + Int(header.checksumOffset)
        guard let base = packet.baseAddress, field + 2 <= packet.count, start < packet.count else { return false }
        let partial = UnsafeRawPointer(base).loadUnaligned(fromByteOffset: field, as: UInt16.self)
        base.storeBytes(of: 0, toByteOffset: field, as: UInt16.self)
        var checksum = InternetChecksum.checksum(InternetChecksum.sum(base + start, count: packet.count - start, initial: UInt64(partial)))
        // UDP's "no checksum" is 0; a computed 0 is sent as its ones'-complement twin.
        if checksum == 0 && header.checksumOffset == 6 { checksum = 0xFFFF }
        base.storeNetworkOrder(checksum, at: field)
        return true
    }
}
