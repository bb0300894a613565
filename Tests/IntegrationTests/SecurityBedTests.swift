import Foundation
import Testing

/// The encrypted tunnel on the test bed: forged, tampered and replayed datagrams from the peer's
/// exact address, a capture of the WAN, and a flood of handshake initiations.
extension NetworkTests {
    @Suite("Sealed tunnel on the test bed", .serialized, .enabled(if: gatewaySkipReason == nil, Comment(rawValue: "needs root, TUN, ping, tcpdump and a built maelstromd: \(gatewaySkipReason ?? "")")))
    struct SecurityBedTests {
        /// The refusal counters of the sealing layer, by cause.
        static let refusals = [
            "maelstrom_refused_plaintext_total", "maelstrom_refused_malformed_sealed_total", "maelstrom_refused_unknown_session_total",
            "maelstrom_refused_expired_session_total", "maelstrom_refused_authentication_total", "maelstrom_refused_replay_total",
            "maelstrom_refused_handshake_mac_total",
        ]

        @Test("forged, tampered and replayed datagrams from the peer's address and port reach no host, now, a minute later and after restarts of either gateway")
        func forgedAndReplayed() throws {
            let bed = try TwoGatewayBed()
            defer { bed.tearDown() }
            // Genuine datagrams from gwA, captured on the WAN from its first handshake on and while a ping crosses.
            let capture = bed.directory.appendingPathComponent("wan.pcap")
            let tcpdump = try bed.spawn("gwB", ["tcpdump", "-i", "gw", "-U", "-w", capture.path, "udp and src host 198.18.1.1"])
            usleep(500_000)
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            try bed.waitForPeer("gwB")
            let ping = bed.exec("hostA", "ping -c 5 -i 0.2 -W 2 10.2.0.2")
            #expect(ping.status == 0, "\(ping.output)")
            usleep(300_000)
            stopProcess(tcpdump, signal: SIGINT, timeout: 3)
            // Anything that leaks through gwB to hostB on the forged flow's port shows up here.
            let leak = bed.directory.appendingPathComponent("leak.txt")
            let watcher = try bed.spawn("hostB", ["tcpdump", "-n", "-l", "-i", "hb", "udp port 9999"], output: leak)
            usleep(500_000)

            func forge(_ mode: String) -> ShellResult {
                bed.exec("gwA", "python3 \(forgeryScript.path) \(mode) \(capture.path)", timeout: 60)
            }
            func refused(_ name: String) -> Double { bed.metric("gwB", name) }

            let forged = forge("forged")
            #expect(forged.status == 0, "\(forged.output)")
            let now = forge("replay")
            #expect(now.status == 0, "\(now.output)")
            usleep(2_500_000)
            #expect(refused("maelstrom_refused_plaintext_total") >= 5, "plaintext frames with a valid checksum")
            #expect(refused("maelstrom_refused_authentication_total") >= 10, "tampered ciphertext and frames under another key")
            let replaysAtOnce = refused("maelstrom_refused_replay_total")
            #expect(replaysAtOnce >= 5, "replayed at once")
            #expect(refused("maelstrom_handshake_refused_replay_total") >= 1, "the replayed initiation, by its timestamp")

            // A minute later: the session is the same (sessions last two minutes), the window refuses.
            usleep(55_000_000)
            #expect(forge("replay").status == 0)
            usleep(2_500_000)
            #expect(refused("maelstrom_refused_replay_total") >= replaysAtOnce + 5, "replayed a minute later")

            // After gwA (the sender) restarts: gwB still opens gwA's old session for a while, and
            // the window still refuses what it has seen.
            bed.stopDaemon("gwA")
            try bed.startDaemon("gwA")
            try bed.waitForPeer("gwA")
            let beforeSenderRestart = refused("maelstrom_refused_replay_total") + refused("maelstrom_refused_unknown_session_total")
            #expect(forge("replay").status == 0)
            usleep(2_500_000)
            #expect(
                refused("maelstrom_refused_replay_total") + refused("maelstrom_refused_unknown_session_total") >= beforeSenderRestart + 5,
                "replayed after a restart of the sender")

            // After gwB (the receiver) restarts: it has no such session at all.
            bed.stopDaemon("gwB")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwB")
            #expect(forge("replay").status == 0)
            #expect(forge("forged").status == 0)
            usleep(2_500_000)
            #expect(refused("maelstrom_refused_unknown_session_total") >= 5, "replayed after a restart of the receiver")

            stopProcess(watcher, signal: SIGINT, timeout: 3)
            let leaked = (try? String(contentsOf: leak, encoding: .utf8)) ?? ""
            #expect(leaked.isEmpty, "hostB received forged or replayed packets: \(leaked.prefix(400))")
            // The genuine traffic went on all along.
            let after = bed.exec("hostA", "ping -c 10 -i 0.1 -W 2 10.2.0.2")
            #expect(after.status == 0 && after.output.contains(" 0% packet loss"), "\(after.output)")
            #expect(bed.metric("gwB", "maelstrom_packets_rebuilt_total") + bed.metric("gwB", "maelstrom_malformed_total") == 0,
                    "nothing forged reached the decoder")
        }

        @Test("a known pattern sent over TCP never crosses the WAN in the clear (and with security: none it does)")
        func noPlaintextOnTheWAN() throws {
            func patternSeen(_ bed: TwoGatewayBed) throws -> (seen: Bool, bytes: Int) {
                try bed.startDaemon("gwA")
                try bed.startDaemon("gwB")
                try bed.waitForPeer("gwA")
                try bed.waitForPeer("gwB")
                let capture = bed.directory.appendingPathComponent("pattern.pcap")
                let tcpdump = try bed.spawn("gwA", ["tcpdump", "-i", "gw", "-U", "-s", "0", "-w", capture.path, "udp port 4500"])
                usleep(500_000)
                let server = try bed.spawn("hostB", ["python3", "-c", "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('10.2.0.2', 7000)); s.listen(1)\nc,_=s.accept()\nwhile c.recv(65536): pass"])
                usleep(300_000)
                let send = bed.exec(
                    "hostA", "python3 -c \(shellQuote("import socket\ns=socket.create_connection(('10.2.0.2', 7000))\ns.sendall(b'MAELSTROM-SECRET-PATTERN-0123456789:' * 60000)\ns.close()"))")
                #expect(send.status == 0, "\(send.output)")
                usleep(500_000)
                stopProcess(tcpdump, signal: SIGINT, timeout: 3)
                stopProcess(server, signal: SIGTERM, timeout: 2)
                let data = (try? Data(contentsOf: capture)) ?? Data()
                return (data.range(of: Data("MAELSTROM-SECRET-PATTERN".utf8)) != nil, data.count)
            }
            let sealed = try TwoGatewayBed()
            defer { sealed.tearDown() }
            let (seenSealed, bytesSealed) = try patternSeen(sealed)
            #expect(bytesSealed > 2_000_000, "the capture holds the transfer")
            #expect(!seenSealed, "the pattern crossed the WAN in the clear")
            sealed.tearDown()

            let plaintext = try TwoGatewayBed(security: .none)
            defer { plaintext.tearDown() }
            let (seenPlain, _) = try patternSeen(plaintext)
            #expect(seenPlain, "with security: none the pattern is on the wire (so the check above can fail)")
        }

        @Test("under a flood of handshake initiations from the peer's address the real peer is served, and a restarted peer gets back in with a cookie")
        func initiationFlood() throws {
            let bed = try TwoGatewayBed()
            defer { bed.tearDown() }
            try bed.startDaemon("gwA")
            try bed.startDaemon("gwB")
            try bed.waitForPeer("gwA")
            try bed.waitForPeer("gwB")
            // Initiations with a valid mac1 (the flooder knows gwB's public key) and garbage inside,
            // from gwA's address and port, and from a stranger's, for 8 seconds.
            let flood = try bed.spawn(
                "gwA", ["python3", forgeryScript.path, "flood", bed.publicKey("gwB"), "8"],
                output: bed.directory.appendingPathComponent("flood.txt"))
            usleep(1_000_000)
            let during = bed.exec("hostA", "ping -c 20 -i 0.1 -W 2 10.2.0.2")
            #expect(during.status == 0, "the real peer is still served: \(during.output)")
            let lossLine = during.output.split(separator: "\n").first { $0.contains("packet loss") } ?? ""
            #expect(lossLine.contains(" 0% packet loss") || lossLine.contains(" 5% packet loss"), "\(lossLine)")
            // The peer restarts mid-flood: its new initiation is answered with a cookie, it sends
            // again with the cookie, and traffic resumes.
            bed.stopDaemon("gwA")
            try bed.startDaemon("gwA")
            let back = bed.exec("hostA", "ping -c 30 -i 0.2 -W 1 10.2.0.2")
            #expect(back.output.contains(" bytes from 10.2.0.2"), "the restarted peer got back in: \(back.output)")
            stopProcess(flood, signal: SIGTERM, timeout: 10)
            usleep(2_500_000)
            let sent = (try? String(contentsOf: bed.directory.appendingPathComponent("flood.txt"), encoding: .utf8)) ?? ""
            #expect(bed.metric("gwB", "maelstrom_handshake_refused_cookie_total") > 100, "flood: \(sent)")
            #expect(bed.metric("gwB", "maelstrom_handshake_cookies_sent_total") > 100)
            #expect(bed.metric("gwB", "maelstrom_unknown_source_datagrams_total") > 100, "the stranger's initiations")
            #expect(bed.metric("gwA", "maelstrom_handshake_cookies_received_total") >= 1, "gwA:\n\(bed.log("gwA").suffix(1500))")
            #expect(bed.isRunning("gwB"))
        }
    }
}

/// `Tests/IntegrationTests/Scripts/forge.py`: forgeries, replays and floods from raw sockets.
let forgeryScript = TestBed.repositoryRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/forge.py")
