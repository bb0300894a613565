import Foundation
import Testing

/// Split flow control between the real daemons on the bed: both gateways split TCP to each
/// other's site, under 1 % random loss on a 50 ms RTT link; `scripts/tcpcheck.py` drives the hosts.
extension NetworkTests {
    @Suite(
        "Split flow control on the emulated WAN", .serialized, TestBed.needed,
        .enabled(if: maelstromdPath != nil, "maelstromd is not built next to the tests"))
    struct SplitBedTests {
        private static let checkScript = TestBed.repositoryRoot.appendingPathComponent("scripts/tcpcheck.py").path
        private static let bedOptions = ["--delay", "25", "--rate", "100", "--loss", "bernoulli:0.01"]

        /// Runs a tcpcheck.py client mode in hostA and parses its JSON.
        private func client(_ bed: TestBed, _ arguments: String, timeout: Double = 180) throws -> [String: Any] {
            let result = shell("ip netns exec \(bed.namespace("hostA")) python3 \(Self.checkScript) \(arguments)", timeout: timeout)
            guard result.status == 0, let line = result.output.split(separator: "\n").last,
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { throw TestFailure("tcpcheck.py \(arguments) failed (\(result.status)): \(result.output.suffix(600))") }
            return object
        }

        /// The server's per-connection records.
        private func serverLog(_ path: String) -> [[String: Any]] {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }

        /// A bed with both gateways splitting, a checking server on hostB, and the log path.
        private func withSplitBed(extra: String = "", _ body: (TestBed, BedGateways, String) throws -> Void) throws {
            try TestBed.with(Self.bedOptions) { bed in
                let gateways = try BedGateways(bed: bed, peerExtra: "flow-control: split", extra: extra)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let log = gateways.directory.appendingPathComponent("server.jsonl").path
                let server = try bed.spawn(in: "hostB", "python3", [Self.checkScript, "serve", "--bind", "10.2.0.2", "--port", "9300", "--log", log])
                defer { stopProcess(server, signal: SIGKILL, timeout: 2) }
                usleep(500_000)
                try body(bed, gateways, log)
            }
        }

        @Test("200 concurrent connections of random sizes under 1 % loss: every byte checked both ways, none hung, each half-closed, real addresses kept")
        func manyConnections() throws {
            try withSplitBed { bed, gateways, log in
                let table = shell("ip netns exec \(bed.namespace("gwA")) nft list table ip maelstrom_split_mael0")
                #expect(table.status == 0 && table.output.contains("tproxy to :7411"), "gwA's tproxy table: \(table.output)")
                let run = try client(bed, "run --to 10.2.0.2 --port 9300 --connections 200 --concurrency 200 --max-bytes 300000 --seed 3 --deadline 60")
                #expect(run["ok"] as? Int == 200, "run: \(run)")
                #expect(run["hung"] as? Int == 0)
                usleep(500_000)
                let records = serverLog(log)
                #expect(records.count == 200, "the server saw \(records.count) connections")
                #expect(records.allSatisfy { $0["up_ok"] as? Bool == true && $0["half_closed"] as? Bool == true })
                // The far host sees the client's own address, not a gateway's.
                #expect(records.allSatisfy { ($0["peer"] as? String ?? "").hasPrefix("10.1.0.2:") })
                // Both gateways terminated the connections: gwA took them from its site, gwB from the tunnel.
                #expect(gateways.metric("gwA", "maelstrom_split_connections_accepted_total") >= 200)
                #expect(gateways.metric("gwB", "maelstrom_split_connections_accepted_total") >= 200)
                // The last FINs may still be crossing the lossy link; every relay ends within seconds.
                var active = gateways.metric("gwA", "maelstrom_split_connections_active")
                for _ in 0..<50 where active > 0 {
                    usleep(200_000)
                    active = gateways.metric("gwA", "maelstrom_split_connections_active")
                }
                #expect(active == 0, "\(active) relays still open on gwA")
                #expect(gateways.metric("gwA", "maelstrom_split_connections_reset_total") == 0)
            }
        }

        @Test("refusal reaches the client as a reset within a second, and a client's reset reaches the far host as a reset")
        func refusalAndReset() throws {
            try withSplitBed { bed, _, log in
                // Nothing listens on 9399 at hostB: the far gateway's onward connection is refused.
                let refused = try client(bed, "refused --to 10.2.0.2 --port 9399")
                #expect(["reset", "refused"].contains(refused["outcome"] as? String ?? ""), "refused: \(refused)")
                #expect((refused["seconds"] as? Double ?? 99) < 1.0)
                let reset = try client(bed, "reset --to 10.2.0.2 --port 9300")
                let local = reset["local"] as? String ?? "?"
                var record: [String: Any]? = nil
                for _ in 0..<50 where record == nil {
                    usleep(100_000)
                    record = serverLog(log).first { $0["peer"] as? String == local }
                }
                #expect(record?["end"] as? String == "reset", "the server's record of \(local): \(String(describing: record))")
            }
        }

        /// Starts `tcpcheck.py hold` in hostA in the background; its JSON goes to `out`.
        private func startHold(_ bed: TestBed, out: URL, seconds: Int, idle: Bool = false) throws -> Process {
            let hold = Process()
            hold.executableURL = URL(fileURLWithPath: "/bin/bash")
            hold.arguments = [
                "-c",
                "ip netns exec \(bed.namespace("hostA")) python3 \(Self.checkScript) hold --to 10.2.0.2 --port 9300 --seconds \(seconds)\(idle ? " --idle" : "") > \(out.path)",
            ]
            try hold.run()
            return hold
        }

        private func holdResult(_ hold: Process, out: URL, timeout: Double) -> [String: Any] {
            let deadline = Date().addingTimeInterval(timeout)
            while hold.isRunning && Date() < deadline { usleep(100_000) }
            return (try? JSONSerialization.jsonObject(with: Data(contentsOf: out))) as? [String: Any] ?? [:]
        }

        @Test("max-connections: the connection over the limit is reset and counted; an idle connection is reset after idle-timeout")
        func limits() throws {
            try withSplitBed(extra: "split:\n  max-connections: 2\n  idle-timeout: 3s") { bed, gateways, _ in
                let busy = try (0..<2).map { index in
                    try startHold(bed, out: gateways.directory.appendingPathComponent("busy-\(index).json"), seconds: 6)
                }
                usleep(1_500_000)
                let over = try client(bed, "run --to 10.2.0.2 --port 9300 --connections 1 --max-bytes 1000 --deadline 20")
                #expect(over["ok"] as? Int == 0, "a third connection got through a limit of 2: \(over)")
                #expect(gateways.waitForMetric("gwA", "maelstrom_split_connections_refused_total", above: 0) >= 1)
                for (index, hold) in busy.enumerated() {
                    // The two within the limit were not disturbed: they ran their full time.
                    let held = holdResult(hold, out: gateways.directory.appendingPathComponent("busy-\(index).json"), timeout: 15)
                    #expect(held["outcome"] as? String == "timeout", "a connection within the limit: \(held)")
                }
                let idleOut = gateways.directory.appendingPathComponent("idle.json")
                let idle = try startHold(bed, out: idleOut, seconds: 15, idle: true)
                let held = holdResult(idle, out: idleOut, timeout: 20)
                #expect(held["outcome"] as? String == "reset", "the idle connection: \(held)")
                let after = held["after"] as? Double ?? 0
                // Reset by the once-a-second sweep after 3 s without a byte.
                #expect(after >= 2.5 && after < 6, "reset after \(after) s")
                #expect(gateways.waitForMetric("gwA", "maelstrom_split_connections_idle_closed_total", above: 0) >= 1)
            }
        }

        @Test("a restart of either gateway resets the connections it held, new ones work, and the rules go at exit")
        func restarts() throws {
            try withSplitBed { bed, gateways, _ in
                for gateway in ["gwA", "gwB"] {
                    let hold = Process()
                    let out = gateways.directory.appendingPathComponent("hold-\(gateway).json")
                    hold.executableURL = URL(fileURLWithPath: "/bin/bash")
                    hold.arguments = ["-c", "ip netns exec \(bed.namespace("hostA")) python3 \(Self.checkScript) hold --to 10.2.0.2 --port 9300 --seconds 20 > \(out.path)"]
                    try hold.run()
                    usleep(2_000_000)
                    gateways.stop(gateway)
                    let leftover = shell("ip netns exec \(bed.namespace(gateway)) nft list table ip maelstrom_split_mael0; ip -n \(bed.namespace(gateway)) rule")
                    #expect(!leftover.output.contains("tproxy") && !leftover.output.contains("lookup 4931"), "left after \(gateway) stopped: \(leftover.output)")
                    let deadline = Date().addingTimeInterval(25)
                    while hold.isRunning && Date() < deadline { usleep(100_000) }
                    let held = (try? JSONSerialization.jsonObject(with: Data(contentsOf: out))) as? [String: Any] ?? [:]
                    #expect(held["outcome"] as? String == "reset", "the held connection through \(gateway): \(held)")
                    #expect((held["after"] as? Double ?? 99) < 6, "it failed after \(held["after"] ?? "?") s")
                    try gateways.start(gateway)
                    try gateways.waitUntilUp(gateway)
                    let run = try client(bed, "run --to 10.2.0.2 --port 9300 --connections 20 --concurrency 20 --max-bytes 200000 --seed 5 --deadline 60")
                    #expect(run["ok"] as? Int == 20, "after restarting \(gateway): \(run)")
                }
            }
        }
    }
}
