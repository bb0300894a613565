import Foundation
import MaelstromCore
@testable import MaelstromFuzzTargets
import Testing

/// The committed seed corpus and every input a fuzzer ever found, run through their targets on
/// every test run: a finding, once fixed, stays fixed.
@Suite("Fuzz corpus and findings")
struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    static func inputs(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let url = directory.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.sorted().map { url.appendingPathComponent($0) }
    }

    @Test("every seed and every finding passes its target's invariants", arguments: FuzzTarget.allCases)
    func corpus(target: FuzzTarget) throws {
        let seeds = Self.inputs("Corpus", target)
        #expect(seeds.count >= 3, "the seed corpus of \(target) is missing (scripts/fuzz.sh seeds it)")
        for file in seeds + Self.inputs("Findings", target) {
            let bytes = try [UInt8](Data(contentsOf: file))
            do {
                try target.run(bytes)
            } catch {
                Issue.record("\(file.lastPathComponent): \(error)")
            }
        }
    }

    @Test("the empty input is a script of no operations for every target")
    func emptyInput() {
        for target in FuzzTarget.allCases {
            #expect(throws: Never.self) { try target.run([]) }
        }
    }

    @Test("the handshake target's seeds complete handshakes through its network: frames open both ways, mutations and forgeries notwithstanding")
    func handshakeSeedsEstablish() {
        for (name, bytes) in FuzzSeeds.seeds(for: .handshake) {
            var opened = HandshakeFuzz.Outcome()
            var finding: FuzzFinding?
            bytes.withUnsafeBytes { raw in
                do throws(FuzzFinding) { opened = try HandshakeFuzz.outcome(raw) } catch { finding = error }
            }
            #expect(finding == nil, "\(name): \(String(describing: finding))")
            #expect(opened.openedByA >= 2 && opened.openedByB >= 2, "\(name): A opened \(opened.openedByA), B \(opened.openedByB)")
            if name == "forged-initiations" { #expect(opened.cookiesDemandedByB > 0, "the forgeries did not put B under load") }
        }
    }

    @Test("the decoder target's checks fire: a packet delivered twice, or bytes never sent, are findings")
    func checksFire() throws {
        let packets = [[DecoderFuzz.packetBytes(stream: 0, number: 0), DecoderFuzz.packetBytes(stream: 0, number: 1)]]
        let decoder = LayeredDecoder(parameters: DecoderParameters(for: FECParameters(r: 2, interleaves: [1], flushAfterNanoseconds: 1_000_000, maxPacketSize: 512)))
        var twice = CheckingPacketSink(sent: packets)
        for _ in 0..<2 { packets[0][1].withUnsafeBytes { twice.deliver($0, sequence: 1, recovery: nil) } }
        #expect(throws: FuzzFinding.self) { try twice.check(decoder) }
        var forged = CheckingPacketSink(sent: packets)
        var wrong = packets[0][0]
        wrong[5] ^= 1
        wrong.withUnsafeBytes { forged.deliver($0, sequence: 0, recovery: nil) }
        #expect(throws: FuzzFinding.self) { try forged.check(decoder) }
        var honest = CheckingPacketSink(sent: packets)
        packets[0][0].withUnsafeBytes { honest.deliver($0, sequence: 0, recovery: nil) }
        try honest.check(decoder)
    }
}
