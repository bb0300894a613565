import MaelstromCore

/// The packet checks the TUN side relies on: the IP checks agree with each other, the MSS clamp
/// changes nothing but the option and keeps a correct TCP checksum correct, and a super-segment
/// splits into segments that carry exactly its payload, each well-formed with correct checksums.
enum PacketFuzz {
    static func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) {
        var input = FuzzInput(data)
        let mss = 536 + Int(input.uint16() % 9000)
        let vnetBytes = input.take(VirtioNetHeader.size)
        var packet = input.rest()
        let wellFormed = packet.withUnsafeBytes { IPPacket.isWellFormed($0) }
        let destination = packet.withUnsafeBytes { IPPacket.destination(of: $0) }
        if wellFormed && destination == nil {
            throw FuzzFinding(.packet, "a well-formed packet has no destination")
        }
        try clamp(&packet, mss: mss)
        if vnetBytes.count == VirtioNetHeader.size {
            let header = vnetBytes.withUnsafeBytes { VirtioNetHeader(reading: $0.baseAddress!) }
            try split(packet, header: header)
            var copy = packet
            _ = copy.withUnsafeMutableBytes { SegmentSplitter.completeChecksum($0, header: header) }
            guard copy.count == packet.count else { throw FuzzFinding(.packet, "completing a checksum changed the length") }
        }
    }

    private static func clamp(_ packet: inout [UInt8], mss: Int) throws(FuzzFinding) {
        let before = packet
        let checksumWasRight = tcpChecksumIsRight(before)
        let changed = packet.withUnsafeMutableBytes { MSSClamp.clamp($0, ipv4MSS: mss, ipv6MSS: mss) }
        guard packet.count == before.count else { throw FuzzFinding(.packet, "the clamp changed the length") }
        guard changed || packet == before else { throw FuzzFinding(.packet, "the clamp said unchanged and changed bytes") }
        guard changed else { return }
        if checksumWasRight == true && tcpChecksumIsRight(packet) != true {
            throw FuzzFinding(.packet, "the clamp broke a correct TCP checksum")
        }
        let differing = zip(before, packet).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        // The option's two value bytes and the checksum's two: nothing else moves.
        guard differing.count <= 4 else { throw FuzzFinding(.packet, "the clamp changed \(differing.count) bytes") }
    }

    /// Whether the TCP checksum of an unfragmented IPv4 or IPv6 TCP packet is right (nil: not such a packet).
    static func tcpChecksumIsRight(_ packet: [UInt8]) -> Bool? {
        guard packet.count >= 40 else { return nil }
        let offset: Int
        switch packet[0] >> 4 {
        case 4:
            offset = Int(packet[0] & 0x0F) * 4
            guard packet[9] == 6, offset >= 20, Int(packet[2]) << 8 | Int(packet[3]) == packet.count,
                  (Int(packet[6]) << 8 | Int(packet[7])) & 0x3FFF == 0 else { return nil }
        case 6:
            offset = 40
            guard packet[6] == 6, Int(packet[4]) << 8 | Int(packet[5]) == packet.count - 40 else { return nil }
        default:
            return nil
        }
        guard packet.count >= offset + 20 else { return nil }
        return packet.withUnsafeBytes { raw -> Bool in
            let length = packet.count - offset
            let pseudo = InternetChecksum.pseudoHeaderSum(ip: raw.baseAddress!, proto: 6, length: length)
            return InternetChecksum.fold(InternetChecksum.sum(raw.baseAddress! + offset, count: length, initial: pseudo)) == 0xFFFF
        }
    }

    private static func split(_ packet: [UInt8], header: VirtioNetHeader) throws(FuzzFinding) {
        var finding: FuzzFinding?
        packet.withUnsafeBytes { raw in
            do throws(FuzzFinding) { try split(packet, raw: raw, header: header) } catch { finding = error }
        }
        if let finding { throw finding }
    }

    private static func split(_ packet: [UInt8], raw: UnsafeRawBufferPointer, header: VirtioNetHeader) throws(FuzzFinding) {
        do {
            guard let plan = SegmentSplitter.plan(raw, header: header) else { return }
            guard plan.segments >= 1, plan.headerLength + plan.payloadLength == packet.count else {
                throw FuzzFinding(.packet, "a plan of \(plan.segments) segments does not cover the \(packet.count) bytes")
            }
            var carried = 0
            var segment = [UInt8](repeating: 0, count: plan.headerLength + plan.gsoSize)
            for index in 0..<plan.segments {
                let expected = plan.length(of: index)
                guard expected <= segment.count else { throw FuzzFinding(.packet, "segment \(index) is longer than planned") }
                let length = segment.withUnsafeMutableBytes { SegmentSplitter.writeSegment(index, of: raw, plan: plan, into: $0.baseAddress!) }
                guard length == expected else {
                    throw FuzzFinding(.packet, "segment \(index) is \(length) bytes, planned \(expected)")
                }
                let payload = length - plan.headerLength
                guard segment[plan.headerLength..<length].elementsEqual(packet[(plan.headerLength + carried)..<(plan.headerLength + carried + payload)]) else {
                    throw FuzzFinding(.packet, "segment \(index) carries other bytes than its share of the payload")
                }
                carried += payload
                if plan.isTCP, plan.isIPv4 || plan.transportOffset == 40, tcpChecksumIsRight(Array(segment.prefix(length))) == false {
                    throw FuzzFinding(.packet, "segment \(index) has a wrong TCP checksum")
                }
            }
            guard carried == plan.payloadLength else { throw FuzzFinding(.packet, "the segments carry \(carried) of \(plan.payloadLength) bytes") }
        }
    }
}
