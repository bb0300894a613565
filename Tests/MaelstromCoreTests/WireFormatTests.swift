import MaelstromCore
import PropertyBased
import Testing

/// A whole plaintext frame of `type` on `lane` whose own header `write` fills.
private func frame(_ type: FrameType, lane: LaneID = 0, payload: [UInt8] = [], write: (UnsafeMutableRawPointer) -> Void) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: type.bodyHeaderSize)
    header.withUnsafeMutableBytes { write($0.baseAddress!) }
    return header.withUnsafeBytes { head in
        payload.withUnsafeBytes { WireFormat.plaintextFrame(type: type, lane: lane, header: head, payload: $0) }
    }
}

@Suite("Wire format")
struct WireFormatTests {
    @Test("a data frame's headers are laid out byte for byte as docs/PROTOCOL.md says")
    func dataHeaderBytes() {
        let bytes = frame(.data, lane: 3) { DataFrameHeader(stream: 0x0102_0304, sequence: 0xA0B0_C0D0).write(to: $0) }
        #expect(
            bytes == [
                0x03, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x94, 0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0,
            ])
    }

    @Test("a repair frame's headers are laid out byte for byte as docs/PROTOCOL.md says")
    func repairHeaderBytes() {
        let bytes = frame(.repair) {
            RepairFrameHeader(stream: 0x0102_0304, firstSequence: 0xFFFF_FFFE, stride: 10, layer: 1, count: 8, lengthXor: 1500).write(to: $0)
        }
        #expect(
            bytes == [
                0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF2, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x01, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x0A, 0x01, 0x08, 0x05, 0xDC,
            ])
    }

    @Test("every frame type survives a write and a parse, with its lane")
    func roundTrips() throws {
        let payload: [UInt8] = [0x45, 0, 0, 20, 1, 2, 3]
        let data = DataFrameHeader(stream: 77, sequence: 0xFFFF_FFFF)
        let repair = RepairFrameHeader(stream: 77, firstSequence: 5, stride: 100, layer: 2, count: 8, lengthXor: 0xBEEF)
        let keepalive = KeepaliveFrame(stream: 1, nextSequence: 2, decodingStream: 3, timestamp: 4, echoedTimestamp: .max)

        try frame(.data, lane: 7, payload: payload) { data.write(to: $0) }.withUnsafeBytes { raw in
            let (lane, parsed) = try Frame.parse(raw)
            guard case .data(let header, let body) = parsed else { Issue.record("not data"); return }
            #expect(lane == 7)
            #expect(header == data)
            #expect(Array(body) == payload)
        }
        try frame(.repair, lane: 15, payload: payload) { repair.write(to: $0) }.withUnsafeBytes { raw in
            let (lane, parsed) = try Frame.parse(raw)
            guard case .repair(let header, let body) = parsed else { Issue.record("not repair"); return }
            #expect(lane == 15)
            #expect(header == repair)
            #expect(Array(body) == payload)
        }
        try frame(.keepalive) { keepalive.write(to: $0) }.withUnsafeBytes { raw in
            guard case .keepalive(let parsed) = try Frame.parse(raw).frame else { Issue.record("not keepalive"); return }
            #expect(parsed == keepalive)
        }
    }

    @Test("a lane beyond the largest lane count, a sealed flag, and unknown versions are refused")
    func envelopeRules() {
        var bytes = frame(.data, lane: 16, payload: [0x45]) { DataFrameHeader(stream: 1, sequence: 1).write(to: $0) }
        #expect(bytes.withUnsafeBytes { raw in (try? Frame.parse(raw)) == nil })
        bytes = frame(.data, payload: [0x45]) { DataFrameHeader(stream: 1, sequence: 1).write(to: $0) }
        bytes[3] = 1
        #expect(throws: WireError(.sealed)) { try bytes.withUnsafeBytes { _ = try Frame.parse($0) } }
        bytes[3] = 0
        bytes[0] = 1
        #expect(throws: WireError(.unknownVersion)) { try bytes.withUnsafeBytes { _ = try Frame.parse($0) } }
    }

    @Test("every truncation of a valid frame is refused as truncated or empty, never trapped on")
    func truncations() {
        let whole = frame(.repair, payload: [UInt8](repeating: 0xAB, count: 10)) {
            RepairFrameHeader(stream: 1, firstSequence: 2, stride: 3, layer: 0, count: 4, lengthXor: 5).write(to: $0)
        }
        for length in 0...WireFormat.maxHeaderSize {
            let prefix = Array(whole[..<length])
            prefix.withUnsafeBytes { raw in
                do throws(WireError) {
                    _ = try Frame.parse(raw)
                    Issue.record("a \(length)-byte prefix was accepted")
                } catch {
                    #expect(error.code == .truncated || error.code == .emptyPayload, "length \(length): \(error)")
                }
            }
        }
    }

    @Test("flipping any header bit is detected")
    func checksumCatchesBitFlips() {
        let whole = frame(.repair, payload: [0x11, 0x11, 0x11, 0x11]) {
            RepairFrameHeader(stream: 9, firstSequence: 99, stride: 10, layer: 1, count: 8, lengthXor: 7).write(to: $0)
        }
        for bit in 0..<(WireFormat.maxHeaderSize * 8) {
            var corrupted = whole
            corrupted[bit / 8] ^= UInt8(1 << (bit % 8))
            let accepted = corrupted.withUnsafeBytes { (try? Frame.parse($0).frame) != nil }
            #expect(!accepted, "bit \(bit) flipped was accepted")
        }
    }

    @Test("a repair describing zero members, zero stride or a layer beyond 7 is refused")
    func badRepairDescriptions() {
        for header in [
            RepairFrameHeader(stream: 1, firstSequence: 0, stride: 1, layer: 0, count: 0, lengthXor: 0),
            RepairFrameHeader(stream: 1, firstSequence: 0, stride: 0, layer: 0, count: 4, lengthXor: 0),
            RepairFrameHeader(stream: 1, firstSequence: 0, stride: 1, layer: 8, count: 4, lengthXor: 0),
        ] {
            frame(.repair, payload: [UInt8](repeating: 1, count: 8)) { header.write(to: $0) }.withUnsafeBytes { raw in
                do throws(WireError) {
                    _ = try Frame.parse(raw)
                    Issue.record("accepted \(header)")
                } catch {
                    #expect(error.code == .badRepairDescription)
                }
            }
        }
    }

    @Test("random bytes never trap the parser and are almost always refused")
    func randomBytes() async {
        await propertyCheck(count: 2000, input: Gen.uint8().array(of: 0...80)) { bytes in
            bytes.withUnsafeBytes { raw in
                if let (_, frame) = try? Frame.parse(raw), case .data(_, let payload) = frame {
                    // Only a datagram that really carries a valid header may pass.
                    #expect(payload.count == bytes.count - WireFormat.dataFrameHeadroom)
                }
            }
        }
    }

    @Test("random bytes behind a valid version and type are refused by the checksum")
    func randomHeadersRefused() async {
        await propertyCheck(count: 1000, input: Gen.uint8().array(of: 60...60), Gen.int(in: 1...3)) { bytes, type in
            var datagram = bytes
            datagram[0] = WireFormat.version
            datagram[1] = UInt8(type)
            datagram[2] = 0
            datagram[3] = 0
            let accepted = datagram.withUnsafeBytes { (try? Frame.parse($0).frame) != nil }
            let checksumMatches = datagram.withUnsafeBytes { raw in
                let size = WireFormat.envelopeSize + FrameType(rawValue: UInt8(type))!.bodyHeaderSize
                return raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self).bigEndian
                    == WireFormat.headerChecksum(raw.baseAddress!, count: size)
            }
            #expect(!accepted || checksumMatches)
        }
    }
}
