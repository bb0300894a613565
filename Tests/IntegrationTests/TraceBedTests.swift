import Foundation
import MaelstromCore
import Testing

/// `maelstromd trace` against the bed's own count: a capture on gwB's WAN side under 1 % random
/// loss A→B measures what maelstrom-wanem says it dropped.
extension NetworkTests {
    @Suite(
        "Trace: loss measured from a capture on the bed", .serialized, TestBed.needed,
        .enabled(if: maelstromdPath != nil, "maelstromd is not built next to the tests"),
        .enabled(if: TestBed.executable("tcpdump") != nil, "tcpdump is not installed"))
    struct TraceBedTests {
        @Test("1 % loss A→B: the trace of a tcpdump capture at gwB matches the emulator's drops within 10 %")
        func captureMatchesEmulator() throws {
            // wanem, not netem: its counters (offered, lost_model) are the reference.
            try TestBed.with(["--emulator", "wanem", "--delay", "10", "--rate", "0", "--loss", "bernoulli:0.01", "--seed", "11"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let server = try bed.spawn(in: "hostB", "iperf3", ["-s", "-p", "5211"])
                defer { stopProcess(server, signal: SIGKILL, timeout: 2) }

                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(bed.prefix)trace")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let capture = directory.appendingPathComponent("gwB-wan0.pcap").path
                let tcpdumpLog = directory.appendingPathComponent("tcpdump.log")

                let before = try bed.counters()["wanab"] ?? [:]
                // gwB's WAN interface, 128 bytes of each packet (the envelope is the first 16 of the
                // UDP payload), a 16 MB buffer, written as root (-Z root: no switch to the tcpdump user).
                let tcpdump = try startCapture(bed, "gwB", ["-i", "wan0", "-s", "128", "-B", "16384", "-Z", "root", "-n", "-G", "9", "-W", "1", "-w", capture, "udp"], log: tcpdumpLog)
                defer { stopProcess(tcpdump, signal: SIGKILL, timeout: 2) }
                try waitForListening(tcpdumpLog)

                let iperf = shell(
                    "ip netns exec \(bed.namespace("hostA")) iperf3 -c 10.2.0.2 -p 5211 -u -b 20M -l 1200 -t 5 -J", timeout: 40)
                #expect(iperf.status == 0, "iperf3 failed: \(iperf.output.suffix(400))")
                // tcpdump stops itself after 9 s (-G 9 -W 1) and writes its statistics: a signal from
                // the test runner can arrive blocked (the spawning thread's mask is inherited).
                let deadline = Date().addingTimeInterval(12)
                while tcpdump.isRunning && Date() < deadline { usleep(50_000) }
                #expect(!tcpdump.isRunning, "tcpdump did not stop after its 9 s")
                let after = try bed.counters()["wanab"] ?? [:]

                let log = (try? String(contentsOf: tcpdumpLog, encoding: .utf8)) ?? ""
                let kernelDrops = log.split(separator: "\n").first { $0.contains("dropped by kernel") }
                    .flatMap { Int($0.split(separator: " ").first ?? "") }
                #expect(kernelDrops == 0, "tcpdump: \(log)")

                let trace = directory.appendingPathComponent("wan.trace").path
                let result = shell("\(maelstromdPath!) trace --pcap \(capture) --peer 198.18.1.1:4500 --output \(trace) --json", timeout: 60)
                try #require(result.status == 0, "maelstromd trace failed: \(result.output.suffix(600))")
                let line = result.output.split(separator: "\n").last ?? ""
                let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let total = try #require(report["total"] as? [String: Any])
                let expected = Double(total["expected"] as? Int ?? 0)
                let lost = Double(total["lost"] as? Int ?? 0)
                let measured = total["loss_rate"] as? Double ?? -1

                func count(_ counters: [String: String], _ key: String) -> Double { Double(counters[key] ?? "") ?? 0 }
                let offered = count(after, "offered") - count(before, "offered")
                let dropped = count(after, "lost_model") - count(before, "lost_model")
                try #require(offered > 5_000, "the emulator saw only \(offered) packets A→B: \(after)")
                let reference = dropped / offered
                print("trace: late \(total["late"] ?? "-"), \(Int(lost)) of \(Int(expected)) frames lost (\(measured * 100) %); wanem A→B dropped \(Int(dropped)) of \(Int(offered)) (\(reference * 100) %)")
                #expect(expected >= 0.95 * offered && expected <= 1.05 * offered, "trace expected \(expected) frames, the emulator was offered \(offered)")
                #expect(abs(measured - reference) <= 0.1 * reference, "trace loss \(measured), emulator \(reference)")
                #expect(count(after, "dropped_queue") - count(before, "dropped_queue") == 0)
                // No duplication on this bed. Counters are not in wire order (about 12 % of frames
                // come after a higher counter of their lane: a batch is sealed in one order and
                // sent in another); the trace must count them late, not lost, and the loss match above
                // shows it does.
                let late = total["late"] as? Int ?? -1
                #expect(late >= 0 && Double(late) <= 0.25 * expected, "late frames: \(late)")
                #expect((total["duplicates"] as? Int ?? -1) == 0, "duplicates: \(total["duplicates"] ?? "none")")

                let model = try LossModel.parseTrace(try String(contentsOfFile: trace, encoding: .utf8), source: trace)
                guard case .trace(let pattern) = model else { throw TestFailure("not a trace: \(model)") }
                #expect(pattern.count == Int(expected))
                #expect(pattern.count { $0 } == Int(lost))
            }
        }

        /// Starts tcpdump in `node`'s namespace with its messages (stderr) in `log`.
        private func startCapture(_ bed: TestBed, _ node: String, _ arguments: [String], log: URL) throws -> Process {
            guard let tcpdump = TestBed.executable("tcpdump") else { throw TestFailure("tcpdump is not installed") }
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ipPath ?? "/usr/sbin/ip")
            // `ip netns exec` execs tcpdump in place: the signal that stops it reaches tcpdump.
            process.arguments = ["netns", "exec", bed.namespace(node), tcpdump] + arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            return process
        }

        /// Waits until tcpdump says it listens (its capture has started), or throws with its log.
        private func waitForListening(_ log: URL, timeout: Double = 5) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let text = try? String(contentsOf: log, encoding: .utf8), text.contains("listening on") { return }
                usleep(50_000)
            }
            throw TestFailure("tcpdump did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
    }
}
