import Foundation
import Testing

/// Faults a real link has, on the bed with the sealed gateways: an outage of the WAN, a peer
/// gateway gone for half a minute, duplication and reordering. Each checks that nothing crashed,
/// that traffic came back by itself, and what TCP made of it.
extension NetworkTests {
    @Suite(
        "Faults on the emulated WAN", .serialized, TestBed.needed,
        .enabled(if: maelstromdPath != nil, "maelstromd is not built next to the tests"))
    struct FaultBedTests {
        private func out(_ name: String) -> String {
            FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).json").path
        }

        /// The silence of a receiver's stream that lasted longest, in seconds, with its end.
        private func longestGap(_ received: [String: Any]) -> (seconds: Double, end: Double) {
            let gaps = (received["gaps"] as? [[String: Double]] ?? []).map { (($0["end"] ?? 0) - ($0["start"] ?? 0), $0["end"] ?? 0) }
            return gaps.max { $0.0 < $1.0 } ?? (0, 0)
        }

        @Test("the WAN loses everything for 5 s: traffic resumes within 2 s of its end, an open TCP connection carries on, the loss is counted")
        func wanOutage() throws {
            // The outage begins 9 s after the emulators start: after the gateways are up and the streams run.
            try TestBed.with(["--delay", "10", "--rate", "0", "--outage", "9+5"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let udpOut = out("outage-udp")
                let tcpOut = out("outage-tcp")
                let udp = try startReceiver(bed, "hostB", "receive --port 9010 --duration 19", out: udpOut)
                let tcp = try startReceiver(bed, "hostB", "tcp-receive --port 9110 --timeout 40", out: tcpOut)
                usleep(300_000)
                let sender = try bed.spawn(in: "hostA", "python3", [trafficScript, "send", "--to", "10.2.0.2", "--port", "9010", "--count", "16000", "--rate", "1000"])
                defer { stopProcess(sender, signal: SIGKILL, timeout: 1) }
                // 1 MB before the outage, a pause across it, 1 MB after: the connection stays open throughout.
                let sent = try traffic(bed, "hostA", "tcp-send --to 10.2.0.2 --port 9110 --bytes 2000000 --pause-after 1000000 --pause 12 --seed 4", timeout: 60)
                let received = try receiverResult(tcp, out: tcpOut, timeout: 20)
                #expect(received["sha256"] as? String == sent["sha256"] as? String, "the TCP connection across the outage lost or changed data")
                let stream = try receiverResult(udp, out: udpOut, timeout: 25)
                let gap = longestGap(stream)
                #expect(gap.seconds >= 4.5 && gap.seconds < 5 + 2, "the longest silence was \(gap.seconds) s for a 5 s outage")
                #expect((stream["last_arrival"] as? Double ?? 0) > gap.end + 1, "traffic did not keep flowing after the outage")
                #expect(stream["duplicates"] as? Int == 0)
                #expect(gateways.metric("gwA", "maelstrom_peer_up") == 1 && gateways.metric("gwB", "maelstrom_peer_up") == 1)
                #expect(gateways.metric("gwB", "maelstrom_packets_unrecoverable_total") > 1000, "the packets the outage took are counted")
            }
        }

        @Test("the peer gateway is gone for 30 s: the other keeps running, traffic resumes within 2 s of its return, an idle TCP connection survives")
        func peerGone() throws {
            try TestBed.with(["--delay", "10", "--rate", "0"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let udpOut = out("gone-udp")
                let tcpOut = out("gone-tcp")
                let udp = try startReceiver(bed, "hostB", "receive --port 9011 --duration 41", out: udpOut)
                let tcp = try startReceiver(bed, "hostB", "tcp-receive --port 9111 --timeout 90", out: tcpOut)
                usleep(300_000)
                let sender = try bed.spawn(in: "hostA", "python3", [trafficScript, "send", "--to", "10.2.0.2", "--port", "9011", "--count", "40000", "--rate", "1000"])
                defer { stopProcess(sender, signal: SIGKILL, timeout: 1) }
                let tcpSender = try bed.spawn(
                    in: "hostA", "python3",
                    [trafficScript, "tcp-send", "--to", "10.2.0.2", "--port", "9111", "--bytes", "2000000", "--pause-after", "1000000", "--pause", "36", "--seed", "5"])
                defer { stopProcess(tcpSender, signal: SIGKILL, timeout: 1) }
                usleep(3_000_000)
                gateways.stop("gwB", signal: SIGKILL)
                usleep(30_000_000)
                #expect(gateways.metric("gwA", "maelstrom_peer_up") == 0, "gwA still reports a peer that has been gone for 30 s")
                let returnedAt = Date().timeIntervalSince1970
                try gateways.start("gwB")
                let stream = try receiverResult(udp, out: udpOut, timeout: 50)
                let gap = longestGap(stream)
                #expect(gap.seconds >= 29 && gap.end - returnedAt < 2.0, "the silence lasted \(gap.seconds) s and ended \(gap.end - returnedAt) s after gwB returned")
                #expect((stream["last_arrival"] as? Double ?? 0) > returnedAt + 3, "traffic did not keep flowing after gwB returned")
                let tcpState = shell("ip netns exec \(bed.namespace("hostA")) ss -tni; ip netns exec \(bed.namespace("hostB")) ss -tni", timeout: 10).output
                let received = try? receiverResult(tcp, out: tcpOut, timeout: 30)
                #expect(received?["bytes"] as? Int == 2_000_000,
                        "the TCP connection open across the absence did not complete: \(String(describing: received)); sockets after the return: \(tcpState)")
                #expect(gateways.metric("gwA", "maelstrom_peer_up") == 1, "gwA did not see gwB back")
            }
        }

        @Test("the WAN duplicates 1 % and reorders 1 % by up to 20 ms: each packet arrives once, in a sane order, and TCP keeps within 10 % of a clean link")
        func duplicationAndReordering() throws {
            // The better of two 10 s runs on each side: a stall of the shared machine only ever
            // takes goodput away, and a single run moved by ±15 % between CI runs. 100 Mbit/s, not
            // 200: at 200 the debug build's gateways are the bottleneck on two cores, so the figure
            // measured the machine's load (153.5 against 0.9 × 170.9 failed a CI run), not the WAN.
            let clean = try TestBed.with(["--delay", "10", "--rate", "100", "--queue-bytes", "2500000"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                return max(try goodputThroughGateways(bed, port: 5210, gateways: gateways), try goodputThroughGateways(bed, port: 5214, gateways: gateways))
            }
            try TestBed.with(["--delay", "10", "--rate", "100", "--queue-bytes", "2500000", "--duplicate", "0.01", "--reorder", "0.01,20", "--seed", "4"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let udpOut = out("reorder-udp")
                let udp = try startReceiver(bed, "hostB", "receive --port 9012 --duration 9", out: udpOut)
                usleep(300_000)
                _ = try traffic(bed, "hostA", "send --to 10.2.0.2 --port 9012 --count 8000 --rate 1000")
                let stream = try receiverResult(udp, out: udpOut, timeout: 15)
                #expect(stream["unique"] as? Int == 8000, "\(stream["unique"] ?? 0) of 8000 arrived")
                #expect(stream["duplicates"] as? Int == 0, "the WAN's duplicates reached the host")
                // At 1,000 packets/s a 20 ms hold puts a packet at most about 20 behind.
                let displacement = stream["max_displacement"] as? Int ?? .max
                #expect(displacement <= 40, "a packet arrived \(displacement) behind the highest")
                #expect(gateways.metric("gwB", "maelstrom_duplicates_total") + gateways.metric("gwB", "maelstrom_refused_replay_total") > 0,
                        "the gateway saw no duplicate although the WAN made some")
                let impaired = max(try goodputThroughGateways(bed, port: 5211, gateways: gateways), try goodputThroughGateways(bed, port: 5215, gateways: gateways))
                Issue.record(Comment(rawValue: "goodput: clean \(clean) Mbit/s, duplicated and reordered \(impaired) Mbit/s"), severity: .warning)
                #expect(impaired >= 0.9 * clean, "clean \(clean) Mbit/s, duplicated and reordered \(impaired) Mbit/s")
            }
        }

        @Test("a flood of stranger datagrams and of garbage from the peer's address while TCP runs: TCP keeps 80 % of its goodput, memory does not grow, the refusals are counted")
        func flood() throws {
            try TestBed.with(["--delay", "10", "--rate", "0"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let calm = try goodputThroughGateways(bed, port: 5212, gateways: gateways, offeredMbit: 20)
                let residentBefore = gateways.residentKilobytes("gwB")
                let strangersBefore = gateways.metric("gwB", "maelstrom_unknown_source_datagrams_total")
                // From the WAN router: UDP from its own address (a stranger) and raw datagrams with gwA's
                // address and port as their source, random bytes and frame-like ones, as fast as one
                // core sends them in batches (maelstrom-wanem flood).
                let flood = Process()
                flood.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                flood.arguments = ["netns", "exec", bed.namespace("wan"), productsDirectory.appendingPathComponent("maelstrom-wanem").path,
                                   "flood", "--to", "198.18.2.1:4500", "--forge-source", "198.18.1.1:4500", "--seconds", "14"]
                let floodOutput = Pipe()
                flood.standardOutput = floodOutput
                flood.standardError = FileHandle.nullDevice
                try flood.run()
                usleep(1_000_000)
                let flooded = try goodputThroughGateways(bed, port: 5213, gateways: gateways, offeredMbit: 20)
                flood.waitUntilExit()
                let report = (try? JSONSerialization.jsonObject(with: floodOutput.fileHandleForReading.readDataToEndOfFile())) as? [String: Any]
                let floodSent = (report?["stranger"] as? Int ?? 0) + (report?["forged"] as? Int ?? 0)
                usleep(2_500_000)  // counters are published once a second
                let residentAfter = gateways.residentKilobytes("gwB")
                let strangers = gateways.metric("gwB", "maelstrom_unknown_source_datagrams_total") - strangersBefore
                let refused = SecurityBedTests.refusals.map { gateways.metric("gwB", $0) }.reduce(0, +)
                Issue.record(Comment(rawValue: "flood: \(floodSent) datagrams; TCP \(calm) Mbit/s calm, \(flooded) flooded; gwB RSS \(residentBefore) → \(residentAfter) kB; \(Int(strangers)) strangers, \(Int(refused)) refused"), severity: .warning)
                #expect(floodSent > 500_000, "the flood sent only \(floodSent) datagrams")
                #expect(flooded >= 0.8 * calm, "calm \(calm) Mbit/s, flooded \(flooded) Mbit/s")
                #expect(Double(residentAfter) <= Double(residentBefore) * 1.05 + 2048, "gwB grew from \(residentBefore) to \(residentAfter) kB")
                // Some of the flood dies in the kernel's socket buffer; what gwB read is counted by cause.
                #expect(strangers > Double(floodSent) / 20, "\(strangers) strangers counted of \(floodSent / 2) sent")
                #expect(refused > Double(floodSent) / 20, "\(refused) refused of \(floodSent / 2) sent from gwA's address")
                #expect(gateways.metric("gwB", "maelstrom_peer_up") == 1)
            }
        }

        /// iperf3 (CUBIC, 10 s) from hostA to hostB through the gateways, in Mbit/s.
        private func goodputThroughGateways(_ bed: TestBed, port: Int, gateways existing: BedGateways? = nil, offeredMbit: Int? = nil) throws -> Double {
            let gateways = try existing ?? BedGateways(bed: bed)
            defer { if existing == nil { gateways.tearDown() } }
            if existing == nil { try gateways.startBoth() }
            let server = try bed.spawn(in: "hostB", "iperf3", ["-s", "-p", "\(port)"])
            defer { stopProcess(server, signal: SIGKILL, timeout: 2) }
            usleep(300_000)
            let rate = offeredMbit.map { " -b \($0)M" } ?? ""
            let result = shell("ip netns exec \(bed.namespace("hostA")) iperf3 -c 10.2.0.2 -p \(port) -t 10\(rate) -J", timeout: 40)
            let bytes = GatewayDaemonTests.receivedBytes(result.output)
            guard bytes > 0 else { throw TestFailure("iperf3 failed: \(result.output.suffix(400))") }
            return bytes * 8 / 10 / 1e6
        }
    }
}
