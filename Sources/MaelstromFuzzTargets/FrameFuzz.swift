import MaelstromCore

/// `Frame.parse`: it never traps, and what it accepts describes exactly the bytes it was given.
enum FrameFuzz {
    static func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) {
        try check(data, protection: .plaintext)
        try check(data, protection: .sealed)
        // Random bytes almost never carry a correct checksum; with it fixed, the body parsers run too.
        var fixed = Array(data)
        guard InboundFuzz.fixChecksum(&fixed) else { return }
        var finding: FuzzFinding?
        fixed.withUnsafeBytes { raw in
            do throws(FuzzFinding) { try check(raw, protection: .plaintext) } catch { finding = error }
        }
        if let finding { throw finding }
    }

    private static func check(_ data: UnsafeRawBufferPointer, protection: FrameProtection) throws(FuzzFinding) {
        guard let (lane, frame) = try? Frame.parse(data, protection: protection) else { return }
        guard lane.rawValue == data[2] else { throw FuzzFinding(.frame, "lane \(lane) is not byte 2 (\(data[2]))") }
        guard data[0] == WireFormat.version else { throw FuzzFinding(.frame, "accepted version \(data[0])") }
        let body = WireFormat.envelopeSize
        var header = [UInt8](repeating: 0, count: max(WireFormat.keepaliveSize, WireFormat.lossReportSize))
        let type: FrameType
        let payload: UnsafeRawBufferPointer
        switch frame {
        case .data(let parsed, let bytes):
            type = .data
            payload = bytes
            header.withUnsafeMutableBytes { parsed.write(to: $0.baseAddress!) }
        case .repair(let parsed, let bytes):
            type = .repair
            payload = bytes
            header.withUnsafeMutableBytes { parsed.write(to: $0.baseAddress!) }
            guard parsed.count >= 1 else { throw FuzzFinding(.frame, "a repair of no packet was accepted") }
        case .keepalive(let parsed):
            type = .keepalive
            payload = UnsafeRawBufferPointer(start: nil, count: 0)
            header.withUnsafeMutableBytes { parsed.write(to: $0.baseAddress!) }
        case .lossReport(let parsed):
            type = .lossReport
            payload = UnsafeRawBufferPointer(start: nil, count: 0)
            header.withUnsafeMutableBytes { parsed.write(to: $0.baseAddress!) }
            for window in [parsed.short, parsed.long] where window.lost > window.expected || window.unrecovered > window.expected {
                throw FuzzFinding(.frame, "a loss report with more lost than expected was accepted")
            }
        }
        guard data[1] == type.rawValue else { throw FuzzFinding(.frame, "type byte \(data[1]) parsed as \(type)") }
        let size = type.bodyHeaderSize
        guard data.count >= body + size else { throw FuzzFinding(.frame, "\(type) accepted from \(data.count) bytes") }
        // Sealed frames reach `parse` opened: the clear header is then followed by the decrypted rest.
        guard Array(data[body..<(body + size)]) == Array(header.prefix(size)) else {
            throw FuzzFinding(.frame, "the \(type) header written back differs from the bytes parsed")
        }
        if type != .keepalive && type != .lossReport {
            guard let start = payload.baseAddress, let base = data.baseAddress,
                  start == base + body + size, payload.count == data.count - body - size
            else {
                if payload.count == 0 && data.count == body + size { return }
                throw FuzzFinding(.frame, "the \(type) payload is not the rest of the datagram")
            }
        }
    }
}
