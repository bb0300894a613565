import MaelstromCore
import PropertyBased
import Testing

@Suite("Wire format")
struct WireFormatTests {
    @Test("a data header is laid out byte for byte as docs/PROTOCOL.md says")
    func dataHeaderBytes() {
        var bytes = [UInt8](repeating: 0, count: WireFormat.dataHeaderSize)
        bytes.withUnsafeMutableBytes {
            DataFrameHeader(stream: 0x0102_0304, sequence: 0xA0B0_C0D0).write(to: $0.baseAddress!)
        }
        #expect(bytes == [0x01, 0x01, 0x99, 0x77, 0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0])
    }

    @Test("a repair header is laid out byte for byte as docs/PROTOCOL.md says")
    func repairHeaderBytes() {
        var bytes = [UInt8](repeating: 0, count: WireFormat.repairHeaderSize)
        bytes.withUnsafeMutableBytes {
            RepairFrameHeader(stream: 0x0102_0304, firstSequence: 0xFFFF_FFFE, stride: 10, layer: 1, count: 8, lengthXor: 1500)
                .write(to: $0.baseAddress!)
        }
        #expect(
            bytes == [
                0x01, 0x02, 0xF4, 0x0A, 0x01, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x0A, 0x01, 0x08, 0x05, 0xDC,
            ])
    }

    @Test("every frame type survives a write and a parse")
    func roundTrips() throws {
        let payload: [UInt8] = [0x45, 0, 0, 20, 1, 2, 3]
        let data = DataFrameHeader(stream: 77, sequence: 0xFFFF_FFFF)
        let repair = RepairFrameHeader(stream: 77, firstSequence: 5, stride: 100, layer: 2, count: 8, lengthXor: 0xBEEF)
        let keepalive = KeepaliveFrame(stream: 1, nextSequence: 2, decodingStream: 3, timestamp: 4, echoedTimestamp: .max)

        var buffer = [UInt8](repeating: 0, count: 64)
        buffer.withUnsafeMutableBytes { data.write(to: $0.baseAddress!) }
        let dataFrame = Array(buffer[..<WireFormat.dataHeaderSize]) + payload
        try dataFrame.withUnsafeBytes { raw in
            guard case .data(let header, let body) = try Frame.parse(raw) else { Issue.record("not data"); return }
            #expect(header == data)
            #expect(Array(body) == payload)
        }
        buffer.withUnsafeMutableBytes { repair.write(to: $0.baseAddress!) }
        let repairFrame = Array(buffer[..<WireFormat.repairHeaderSize]) + payload
        try repairFrame.withUnsafeBytes { raw in
            guard case .repair(let header, let body) = try Frame.parse(raw) else { Issue.record("not repair"); return }
            #expect(header == repair)
            #expect(Array(body) == payload)
        }
        buffer.withUnsafeMutableBytes { keepalive.write(to: $0.baseAddress!) }
        try buffer[..<WireFormat.keepaliveSize].withUnsafeBytes { raw in
            guard case .keepalive(let frame) = try Frame.parse(raw) else { Issue.record("not keepalive"); return }
            #expect(frame == keepalive)
        }
    }

    @Test("every truncation of a valid frame is refused as truncated or empty, never trapped on")
    func truncations() {
        var frame = [UInt8](repeating: 0xAB, count: WireFormat.repairHeaderSize + 10)
        frame.withUnsafeMutableBytes {
            RepairFrameHeader(stream: 1, firstSequence: 2, stride: 3, layer: 0, count: 4, lengthXor: 5).write(to: $0.baseAddress!)
        }
        for length in 0...WireFormat.repairHeaderSize {
            let prefix = Array(frame[..<length])
            prefix.withUnsafeBytes { raw in
                do {
                    _ = try Frame.parse(raw)
                    Issue.record("a \(length)-byte prefix was accepted")
                } catch let error as WireError {
                    #expect(error.code == .truncated || error.code == .emptyPayload, "length \(length): \(error)")
                } catch {
                    Issue.record("untyped error \(error)")
                }
            }
        }
    }

    @Test("flipping any header bit is detected")
    func checksumCatchesBitFlips() {
        var frame = [UInt8](repeating: 0x11, count: WireFormat.repairHeaderSize + 4)
        frame.withUnsafeMutableBytes {
            RepairFrameHeader(stream: 9, firstSequence: 99, stride: 10, layer: 1, count: 8, lengthXor: 7).write(to: $0.baseAddress!)
        }
        for bit in 0..<(WireFormat.repairHeaderSize * 8) {
            var corrupted = frame
            corrupted[bit / 8] ^= UInt8(1 << (bit % 8))
            let accepted = corrupted.withUnsafeBytes { (try? Frame.parse($0)) != nil }
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
            var frame = [UInt8](repeating: 1, count: WireFormat.repairHeaderSize + 8)
            frame.withUnsafeMutableBytes { header.write(to: $0.baseAddress!) }
            frame.withUnsafeBytes { raw in
                do {
                    _ = try Frame.parse(raw)
                    Issue.record("accepted \(header)")
                } catch let error as WireError {
                    #expect(error.code == .badRepairDescription)
                } catch {
                    Issue.record("untyped error \(error)")
                }
            }
        }
    }

    @Test("random bytes never trap the parser and are almost always refused")
    func randomBytes() async {
        await propertyCheck(count: 2000, input: Gen.uint8().array(of: 0...80)) { bytes in
            bytes.withUnsafeBytes { raw in
                if let frame = try? Frame.parse(raw), case .data(_, let payload) = frame {
                    // Only a datagram that really carries a valid header may pass.
                    #expect(payload.count == bytes.count - WireFormat.dataHeaderSize)
                }
            }
        }
    }

    @Test("random bytes behind a valid version and type are refused by the checksum")
    func randomHeadersRefused() async {
        await propertyCheck(count: 1000, input: Gen.uint8().array(of: 40...40), Gen.int(in: 1...3)) { bytes, type in
            var datagram = bytes
            datagram[0] = WireFormat.version
            datagram[1] = UInt8(type)
            let accepted = datagram.withUnsafeBytes { (try? Frame.parse($0)) != nil }
            let checksumMatches = datagram.withUnsafeBytes { raw in
                let size = type == 1 ? WireFormat.dataHeaderSize : type == 2 ? WireFormat.repairHeaderSize : WireFormat.keepaliveSize
                return raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self).bigEndian
                    == WireFormat.headerChecksum(raw.baseAddress!, count: size)
            }
            #expect(!accepted || checksumMatches)
        }
    }
}
