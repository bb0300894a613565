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
            // Sealed frames are required: the garbage is refused before the decoder, by cause.
            let refused = (SecurityBedTests.refusals + ["maelstrom_handshakes_refused_total"]).map { bed.metric("gwA", $0) }.reduce(0, +)
            #expect(refused >= 590, "refused \(refused)")
            #expect(bed.metric("gwA", "maelstrom_malformed_total") == 0, "nothing reached the decoder")
            #expect(bed.metric("gwA", "maelstrom_packets_delivered_total") == 0)
            stopProcess(tcpdump, signal: SIGINT, timeout: 3)
            let leaked = (try? String(contentsOf: capture, encoding: .utf8)) ?? ""
            #expect(leaked.isEmpty, "hostA saw packets: \(leaked.prefix(500))")
        }

        @Test("a peer restarted twice, then a datagram of its first run delivered late: traffic goes on both ways",
              arguments: [BedSecurity.sealed, .none])
        func lateDatagramOfAnEarlierRun(security: BedSecurity) throws {
            let bed = try TwoGatewayBed(security: security)
            defer { bed.tearDown() }
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            try bed.waitForPeer("gwB")
            // Record what gwB's first run sends to gwA.
            let capture = bed.directory.appendingPathComponent("first-run.pcap")
            let tcpdump = try bed.spawn(
                "gwA", ["tcpdump", "-n", "-U", "-i", "gw", "-w", capture.path, "udp and src host 198.18.1.2 and src port 4500"])
            usleep(500_000)
            let first = bed.exec("hostB", "ping -c 5 -i 0.2 -W 2 10.1.0.2")
            #expect(first.status == 0, "\(first.output)")
            usleep(300_000)
            stopProcess(tcpdump, signal: SIGINT, timeout: 3)

            for occurrence in 2...3 {
                bed.stopDaemon("gwB")
                try bed.startDaemon("gwB")
                try bed.waitForPeer("gwB")
                let ping = bed.exec("hostB", "ping -c 3 -i 0.2 -W 2 10.1.0.2")
                #expect(ping.status == 0, "after restart \(occurrence - 1): \(ping.output)")
            }

            // One data frame of the first run, sent again from gwB's address and port.
            let replay = """
                python3 - \(capture.path) <<'PY'
                import socket, struct, sys
                data = open(sys.argv[1], "rb").read()
                offset, frame = 24, None
                while offset + 16 <= len(data) and frame is None:
                    length = struct.unpack_from("<I", data, offset + 8)[0]
                    packet = data[offset + 16 : offset + 16 + length]
                    offset += 16 + length
                    ip = packet[14:]
                    ihl = (ip[0] & 15) * 4
                    payload = ip[ihl + 8 :]
                    if struct.unpack_from("!H", ip, 2)[0] == len(ip) and len(payload) > 24 and payload[:2] == bytes([3, 1]):
                        frame = payload
                if frame is None:
                    sys.exit("no data frame in the capture")
                udp = struct.pack("!HHHH", 4500, 4500, 8 + len(frame), 0)
                header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(frame), 1, 0, 64, 17, 0,
                                     socket.inet_aton("198.18.1.2"), socket.inet_aton("198.18.1.1"))
                raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
                raw.sendto(header + udp + frame, ("198.18.1.1", 0))
                print("replayed a data frame of stream", frame[4:8].hex())
                PY
                """
            let replayed = bed.exec("gwB", "bash -c \(shellQuote(replay))")
            #expect(replayed.status == 0, "\(replayed.output)")
            usleep(200_000)

            let backward = bed.exec("hostB", "ping -c 20 -i 0.1 -W 2 10.1.0.2")
            #expect(backward.status == 0 && backward.output.contains(" 0% packet loss"), "hostB → hostA: \(backward.output)")
            let forward = bed.exec("hostA", "ping -c 20 -i 0.1 -W 2 10.2.0.2")
            #expect(forward.status == 0 && forward.output.contains(" 0% packet loss"), "hostA → hostB: \(forward.output)")
            usleep(2_500_000)  // published each second, exported each second
            if security == .none {
                #expect(bed.metric("gwA", "maelstrom_stale_stream_frames_total") >= 1, "the late frame was not counted as stale")
            } else {
                // Sealed, it names a session gwA has dropped: refused before any decoder sees it.
                #expect(bed.metric("gwA", "maelstrom_refused_unknown_session_total") + bed.metric("gwA", "maelstrom_refused_replay_total") >= 1,
                        "the late frame was not refused")
            }
            #expect(bed.metric("gwA", "maelstrom_stream_restarts_total") == 2)
        }

        @Test("IPv6 hosts: ping and TCP through the pair over an IPv4 WAN, with lanes and TUN offloads", arguments: [false, true])
        func ipv6Hosts(ipv6WAN: Bool) throws {
            let bed = try TwoGatewayBed(ipv6WAN: ipv6WAN)
            defer { bed.tearDown() }
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            try bed.waitForPeer("gwB")
            #expect(bed.exec("gwA", "ip -6 route show fd02::/64").output.contains("dev mael0"))
            for (node, target) in [("hostA", "fd02::2"), ("hostB", "fd01::2"), ("hostA", "10.2.0.2")] {
                let ping = bed.exec(node, "ping -c 5 -i 0.2 -W 2 \(target)")
                #expect(ping.status == 0, "\(node) → \(target) over an IPv\(ipv6WAN ? 6 : 4) WAN: \(ping.output)")
            }
            try bed.spawn("hostB", ["iperf3", "-s", "-p", "5201"])
            usleep(300_000)
            for reverse in [false, true] {
                let run = bed.exec("hostA", "iperf3 -6 -c fd02::2 -p 5201 -t 2 -J \(reverse ? "-R" : "")", timeout: 30)
                let received = Self.receivedBytes(run.output)
                #expect(received > 1_000_000, "IPv6 TCP \(reverse ? "B→A" : "A→B"), IPv\(ipv6WAN ? 6 : 4) WAN: \(received) bytes; \(run.output.suffix(300))")
            }
            usleep(2_500_000)
            // The TUN handed over TCP super-segments (TSO) and took coalesced writes, for IPv6 too.
            #expect(bed.metric("gwA", "maelstrom_tun_offloads") >= 3, "offloads in use")
            #expect(bed.metric("gwA", "maelstrom_tun_super_segments_read_total") > 0)
            #expect(bed.metric("gwB", "maelstrom_tun_coalesced_writes_total") > 0)
            #expect(bed.metric("gwA", "maelstrom_lanes") >= 1)
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
