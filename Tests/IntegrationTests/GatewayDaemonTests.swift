import Foundation
import Testing

/// Tests that run real daemons, real TCP and real namespaces: one at a time, as they measure.
extension NetworkTests {
    @Suite("Gateway daemons", .serialized, .enabled(if: gatewaySkipReason == nil, Comment(rawValue: "needs root, TUN, iperf3, ping and a built maelstromd: \(gatewaySkipReason ?? "")")))
    struct GatewayDaemonTests {
        @Test("ping and TCP cross two daemons in both directions, and routes come and go with them")
        func pingAndTCP() throws {
            let bed = try TwoGatewayBed()
            defer { bed.tearDown() }
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            try bed.waitForPeer("gwB")
            #expect(bed.exec("gwA", "ip route show 10.2.0.0/24").output.contains("dev mael0"))

            let forward = bed.exec("hostA", "ping -c 5 -i 0.2 -W 2 10.2.0.2")
            #expect(forward.status == 0, "\(forward.output)")
            let backward = bed.exec("hostB", "ping -c 5 -i 0.2 -W 2 10.1.0.2")
            #expect(backward.status == 0, "\(backward.output)")

            try bed.spawn("hostB", ["iperf3", "-s", "-p", "5201"])
            usleep(300_000)
            for reverse in [false, true] {
                let run = bed.exec("hostA", "iperf3 -c 10.2.0.2 -p 5201 -t 2 -J \(reverse ? "-R" : "")", timeout: 30)
                #expect(run.status == 0, "\(run.output.suffix(500))")
                let received = Self.receivedBytes(run.output)
                #expect(received > 1_000_000, "iperf3 \(reverse ? "B→A" : "A→B") received only \(received) bytes")
            }
            // The tunnel carried it: gwB rebuilt nothing (no loss) but delivered the data packets.
            #expect(bed.metric("gwB", "maelstrom_packets_delivered_total") > 1000)

            let status = bed.stopDaemon("gwA")
            #expect(status == 0, "gwA log:\n\(bed.log("gwA"))")
            #expect(!bed.exec("gwA", "ip route show 10.2.0.0/24").output.contains("mael0"))
            #expect(bed.log("gwA").contains("maelstromd stopped"), "gwA log:\n\(bed.log("gwA"))")
        }

        @Test("datagrams from strangers and garbage from the peer's address are counted; nothing reaches the far host")
        func badInput() throws {
            let bed = try TwoGatewayBed()
            defer { bed.tearDown() }
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            // Listen on hostA for any IPv4 packet that leaks through gwA's TUN.
            let capture = bed.directory.appendingPathComponent("leak.txt")
            let tcpdump = try bed.spawn("hostA", ["tcpdump", "-n", "-l", "-i", "ha", "ip"], output: capture)
            // gwB's own daemon owns 198.18.1.2:4500, so stop it and send from that address ourselves.
            bed.stopDaemon("gwB")
            let sender = """
                python3 - <<'PY'
                import os, socket
                stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                stranger.bind(("198.18.1.2", 4600))
                peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                peer.bind(("198.18.1.2", 4500))
                for i in range(300):
                    data = os.urandom(1 + i % 1400)
                    stranger.sendto(data, ("198.18.1.1", 4500))
                    peer.sendto(data, ("198.18.1.1", 4500))
                    peer.sendto(data[: i % 30], ("198.18.1.1", 4500))
                PY
                """
            let sent = bed.exec("gwB", "bash -c \(shellQuote(sender))")
            #expect(sent.status == 0, "\(sent.output)")
            usleep(3_000_000)  // counters are published once a second, and exported once a second
            #expect(bed.isRunning("gwA"))
            #expect(bed.metric("gwA", "maelstrom_unknown_source_datagrams_total") == 300)
            #expect(bed.metric("gwA", "maelstrom_malformed_total") >= 590)
            #expect(bed.metric("gwA", "maelstrom_packets_delivered_total") == 0)
            stopProcess(tcpdump, signal: SIGINT, timeout: 3)
            let leaked = (try? String(contentsOf: capture, encoding: .utf8)) ?? ""
            #expect(leaked.isEmpty, "hostA saw packets: \(leaked.prefix(500))")
        }

        static func receivedBytes(_ json: String) -> Double {
            guard let data = json.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let end = object["end"] as? [String: Any],
                let sum = end["sum_received"] as? [String: Any],
                let bytes = sum["bytes"] as? Double
            else { return 0 }
            return bytes
        }
    }
}

/// Quotes a string for bash.
func shellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
