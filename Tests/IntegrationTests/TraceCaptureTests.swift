import Foundation
import MaelstromCapture
import MaelstromCore
import Testing

/// A classic pcap file as tcpdump writes it: 24-byte global header, then a 16-byte record header
/// per packet (little-endian, microsecond timestamps), packets cut at `snapLength`.
struct PcapWriter {
    private(set) var bytes: [UInt8] = []
    let snapLength: Int

    init(snapLength: Int = 128, linkType: UInt32 = 1) {
        self.snapLength = snapLength
        bytes += le32(0xA1B2_C3D4) + le16(2) + le16(4) + le32(0) + le32(0) + le32(UInt32(snapLength)) + le32(linkType)
    }

    mutating func add(_ packet: [UInt8], time: UInt32) {
        let kept = packet.prefix(snapLength)
        bytes += le32(time / 1_000_000) + le32(time % 1_000_000) + le32(UInt32(kept.count)) + le32(UInt32(packet.count))
        bytes += kept
    }

    private func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

/// An Ethernet frame holding an IPv4 UDP datagram from `source`:`sourcePort` to 198.18.2.1:4500.
func ethernetUDP(source: [UInt8], sourcePort: UInt16, payload: [UInt8]) -> [UInt8] {
    let udp: [UInt8] = [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), 0x11, 0x94]
        + [UInt8((8 + payload.count) >> 8), UInt8((8 + payload.count) & 0xFF), 0, 0] + payload
    let ip = IPv4.packet(protocol: 17, source: source, destination: [198, 18, 2, 1], payload: udp)
    return [UInt8](repeating: 0x02, count: 6) + [UInt8](repeating: 0x04, count: 6) + [0x08, 0x00] + ip
}

/// The first bytes of a sealed frame of lane `lane`, session `index`, counter `counter`.
func sealedFrameBytes(type: UInt8 = 1, lane: UInt8 = 0, index: UInt32, counter: UInt64, size: Int = 1200) -> [UInt8] {
    var bytes: [UInt8] = [3, type, lane, 1]
    bytes += (0..<4).map { UInt8(truncatingIfNeeded: index >> (24 - 8 * UInt32($0))) }
    bytes += (0..<8).map { UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64($0))) }
    return bytes + [UInt8](repeating: 0xA5, count: size - 16)
}

/// The libpcap reader (MaelstromCapture) and `maelstromd trace` on capture files written here.
/// No root, no namespaces.
@Suite("Trace: reading capture files")
struct TraceCaptureTests {
    /// A capture of two sealed streams from gwA (lanes 0 and 1) with known losses, one from gwB,
    /// an ARP frame and a handshake message; returns the file and the losses of lane 0.
    private func writeCapture(in directory: URL) throws -> (path: String, lostLane0: Set<Int>) {
        var writer = PcapWriter()
        let lostLane0: Set<Int> = [7, 30, 31, 32, 90]
        var time: UInt32 = 1_000
        writer.add([UInt8](repeating: 0xFF, count: 6) + [UInt8](repeating: 0x04, count: 6) + [0x08, 0x06] + [UInt8](repeating: 0, count: 28), time: time)
        var handshake = [UInt8](repeating: 0, count: 157)
        handshake[0] = 3
        handshake[1] = 4
        writer.add(ethernetUDP(source: [198, 18, 1, 1], sourcePort: 4500, payload: handshake), time: time)
        for counter in 0..<120 {
            time += 100
            if !lostLane0.contains(counter) {
                writer.add(ethernetUDP(source: [198, 18, 1, 1], sourcePort: 4500, payload: sealedFrameBytes(index: 0x0102_0304, counter: UInt64(counter))), time: time)
            }
            if counter % 2 == 0 && counter != 40 {
                writer.add(ethernetUDP(source: [198, 18, 1, 1], sourcePort: 4500, payload: sealedFrameBytes(lane: 1, index: 0x0102_0304, counter: UInt64(counter / 2))), time: time)
            }
            writer.add(ethernetUDP(source: [198, 18, 2, 1], sourcePort: 4500, payload: sealedFrameBytes(type: 3, index: 0x0A0B_0C0D, counter: UInt64(counter), size: 60)), time: time)
        }
        let path = directory.appendingPathComponent("capture.pcap").path
        guard FileManager.default.createFile(atPath: path, contents: Data(writer.bytes)) else { throw TestFailure("cannot write \(path)") }
        return (path, lostLane0)
    }

    private func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("a classic pcap file, cut at 128 bytes, reads back through libpcap into the loss trace")
    func readerFeedsTrace() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (path, lostLane0) = try writeCapture(in: directory)
        let file = try PcapFile(path: path)
        #expect(file.linkType == .ethernet)
        #expect(file.snapLength == 128)
        var trace = CaptureLossTrace(peer: Endpoint("198.18.1.1:4500")!)
        var longest = 0
        let packets = try file.forEachPacket { bytes, wireLength in
            #expect(bytes.count <= 128)
            longest = max(longest, wireLength)
            trace.add(packet: bytes, linkType: .ethernet)
        }
        #expect(longest == 14 + 20 + 8 + 1200)
        let summary = trace.summary
        #expect(UInt64(packets) == summary.counters.packets)
        #expect(summary.counters.notUDP == 1)
        #expect(summary.counters.handshakes == 1)
        #expect(summary.counters.otherSources == 120)
        #expect(summary.streams.count == 2)
        #expect(summary.streams[0].counts.expected == 120)
        #expect(summary.streams[0].counts.lost == UInt64(lostLane0.count))
        #expect(summary.streams[1].key.lane == 1)
        #expect(summary.streams[1].counts.expected == 60 && summary.streams[1].counts.lost == 1)
        #expect(trace.pattern(stream: 1) == (0..<120).map { lostLane0.contains($0) })
    }

    @Test("a missing file and a file that is not a capture are errors naming the file")
    func unreadable() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.pcap").path
        #expect(throws: PcapError.self) { try PcapFile(path: missing) }
        let text = directory.appendingPathComponent("text.pcap").path
        try "not a capture\n".write(toFile: text, atomically: true, encoding: .utf8)
        do {
            _ = try PcapFile(path: text)
            Issue.record("a text file opened as a capture")
        } catch {
            #expect(error.description.contains(text))
        }
    }

    @Test("maelstromd trace prints the summary as JSON and writes a trace that --loss trace:FILE reads",
          .enabled(if: maelstromdPath != nil, "maelstromd is not built next to the tests"))
    func command() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (path, lostLane0) = try writeCapture(in: directory)
        let output = directory.appendingPathComponent("wan.trace").path
        let result = shell("\(maelstromdPath!) trace --pcap \(path) --peer 198.18.1.1:4500 --output \(output) --json")
        try #require(result.status == 0, "maelstromd trace failed: \(result.output)")
        let line = result.output.split(separator: "\n").last ?? ""
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let total = try #require(json["total"] as? [String: Any])
        #expect(total["expected"] as? Int == 180)
        #expect(total["lost"] as? Int == lostLane0.count + 1)
        #expect(abs((total["loss_rate"] as? Double ?? 0) - 6.0 / 180) < 1e-9)
        #expect((json["streams"] as? [Any])?.count == 2)
        #expect((json["trace"] as? [String: Any])?["entries"] as? Int == 180)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let model = try LossModel.parseTrace(text, source: output)
        #expect(abs(model.expectedLossRate - 6.0 / 180) < 1e-9)

        let table = shell("\(maelstromdPath!) trace --pcap \(path) --stream largest --output \(output)")
        #expect(table.status == 0)
        #expect(table.output.contains("198.18.2.1:4500 lane 0 sealed index 0x0a0b0c0d"))
        #expect(try LossModel.parseTrace(String(contentsOfFile: output, encoding: .utf8), source: output) == .trace((0..<120).map { lostLane0.contains($0) }))

        let missing = shell("\(maelstromdPath!) trace --pcap \(directory.path)/none.pcap")
        #expect(missing.status == 2)
        #expect(missing.output.contains("none.pcap"))
    }
}
