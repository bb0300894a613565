import Foundation
import Testing

/// End-to-end tests of Maelstrom over the emulated long link: real namespaces, real kernels' TCP,
/// the WAN emulator, and the daemons. One at a time: they measure.
extension NetworkTests {
    @Suite(
        "Maelstrom over the emulated WAN", .serialized, TestBed.needed,
        .enabled(if: maelstromdPath != nil, "maelstromd is not built next to the tests"))
    struct MaelstromBedTests {
        private func out(_ name: String) -> String {
            FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).json").path
        }

        @Test("integrity: 64 MB over TCP through the gateways under 1% random loss arrive byte-identical")
        func integrity() throws {
            try TestBed.with(["--delay", "5", "--rate", "0", "--loss", "bernoulli:0.01", "--seed", "3"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let result = out("integrity")
                let receiver = try startReceiver(bed, "hostB", "tcp-receive --port 9100 --timeout 100", out: result)
                usleep(300_000)
                let sent = try traffic(bed, "hostA", "tcp-send --to 10.2.0.2 --port 9100 --bytes \(64 << 20) --seed 7", timeout: 150)
                let received = try receiverResult(receiver, out: result, timeout: 20)
                #expect(received["bytes"] as? Int == 64 << 20)
                #expect(received["sha256"] as? String == sent["sha256"] as? String)
                #expect(gateways.waitForMetric("gwB", "maelstrom_packets_rebuilt_total", above: 100) > 100, "the loss was repaired by FEC")
            }
        }

        @Test("recovery: at 1% random loss, over 99.9% of a UDP stream arrives through Maelstrom against about 99% without")
        func recovery() throws {
            try TestBed.with(["--delay", "10", "--rate", "0", "--loss", "bernoulli:0.01", "--seed", "5"]) { bed in
                let count = 20_000
                let plainOut = out("plain")
                let plainReceiver = try startReceiver(bed, "hostB", "receive --port 9000 --duration 7", out: plainOut)
                usleep(300_000)
                _ = try traffic(bed, "hostA", "send --to 10.2.0.2 --port 9000 --count \(count) --rate 4000")
                let plain = try receiverResult(plainReceiver, out: plainOut, timeout: 10)
                let plainRatio = Double(plain["unique"] as? Int ?? 0) / Double(count)
                #expect(plainRatio > 0.975 && plainRatio < 0.995, "without Maelstrom \(plainRatio) arrived")

                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let rebuiltBefore = gateways.metric("gwB", "maelstrom_packets_rebuilt_total")
                let lostBefore = gateways.metric("gwB", "maelstrom_packets_unrecoverable_total")
                let tunnelOut = out("tunnel")
                let tunnelReceiver = try startReceiver(bed, "hostB", "receive --port 9001 --duration 8", out: tunnelOut)
                usleep(300_000)
                _ = try traffic(bed, "hostA", "send --to 10.2.0.2 --port 9001 --count \(count) --rate 4000")
                let tunnel = try receiverResult(tunnelReceiver, out: tunnelOut, timeout: 10)
                let unique = tunnel["unique"] as? Int ?? 0
                #expect(Double(unique) / Double(count) >= 0.999, "through Maelstrom \(unique) of \(count) arrived")
                #expect(tunnel["duplicates"] as? Int == 0)
                usleep(3_500_000)  // the decoder gives up after its 1 s hold; counters publish each second
                let rebuilt = gateways.metric("gwB", "maelstrom_packets_rebuilt_total") - rebuiltBefore
                let lost = gateways.metric("gwB", "maelstrom_packets_unrecoverable_total") - lostBefore
                // The daemon's view agrees with the host's: what it gave up is what never arrived, and
                // what the WAN took from the stream (about 1%) is what it rebuilt plus gave up.
                #expect(Int(lost) == count - unique, "daemon says \(lost) unrecoverable, host missed \(count - unique)")
                let lossSeen = (rebuilt + lost) / Double(count)
                #expect(lossSeen > 0.006 && lossSeen < 0.015, "daemon saw \(lossSeen) of the stream lost on the WAN")
            }
        }

        @Test("bursts: with burst:20,2000 loss every packet of a UDP stream arrives")
        func bursts() throws {
            try TestBed.with(["--delay", "10", "--rate", "0", "--loss", "burst:20,2000"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let count = 20_000
                let result = out("bursts")
                let receiver = try startReceiver(bed, "hostB", "receive --port 9002 --duration 8", out: result)
                usleep(300_000)
                _ = try traffic(bed, "hostA", "send --to 10.2.0.2 --port 9002 --count \(count) --rate 4000")
                let received = try receiverResult(receiver, out: result, timeout: 10)
                #expect(received["unique"] as? Int == count)
                #expect(gateways.waitForMetric("gwB", "maelstrom_packets_rebuilt_total", above: 100) > 100)
            }
        }

        @Test("TCP Reno at 0.1% loss, 50 ms RTT, 200 Mbit/s: goodput through Maelstrom ≥ 3 × without")
        func renoGoodput() throws {
            try TestBed.with(["--delay", "25", "--rate", "200", "--queue-bytes", "2500000", "--loss", "bernoulli:0.001", "--seed", "9"]) { bed in
                let server = try bed.spawn(in: "hostB", "iperf3", ["-s", "-p", "5201"])
                defer { stopProcess(server, signal: SIGKILL, timeout: 2) }
                usleep(300_000)
                let plain = try goodput(bed)
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let protected = try goodput(bed)
                Issue.record(Comment(rawValue: "Reno goodput: \(plain) Mbit/s without, \(protected) Mbit/s with Maelstrom"), severity: .warning)
                #expect(protected >= 3 * plain, "without \(plain) Mbit/s, with \(protected) Mbit/s")
            }
        }

        private func goodput(_ bed: TestBed) throws -> Double {
            let result = shell("ip netns exec \(bed.namespace("hostA")) iperf3 -c 10.2.0.2 -p 5201 -C reno -t 10 -J", timeout: 40)
            let bytes = GatewayDaemonTests.receivedBytes(result.output)
            guard bytes > 0 else { throw TestFailure("iperf3 failed: \(result.output.suffix(400))") }
            return bytes * 8 / 10 / 1e6
        }

        @Test("restart: a gateway killed and restarted mid-stream carries traffic again within 2 s, by itself")
        func restart() throws {
            try TestBed.with(["--delay", "10", "--rate", "0"]) { bed in
                let gateways = try BedGateways(bed: bed)
                defer { gateways.tearDown() }
                try gateways.startBoth()
                let result = out("restart")
                let receiver = try startReceiver(bed, "hostB", "receive --port 9003 --duration 9", out: result)
                usleep(300_000)
                let sender = Process()
                sender.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                sender.arguments = ["netns", "exec", bed.namespace("hostA"), "python3", trafficScript, "send", "--to", "10.2.0.2",
                    "--port", "9003", "--count", "8000", "--rate", "1000"]
                sender.standardOutput = FileHandle.nullDevice
                sender.standardError = FileHandle.nullDevice
                try sender.run()
                defer { stopProcess(sender, signal: SIGKILL, timeout: 1) }
                usleep(2_000_000)
                gateways.stop("gwB", signal: SIGKILL)
                usleep(1_000_000)
                let restartedAt = Date().timeIntervalSince1970
                try gateways.start("gwB")
                let received = try receiverResult(receiver, out: result, timeout: 12)
                let gaps = received["gaps"] as? [[String: Double]] ?? []
                // The outage: the silence that spans the restart must end within 2 s of it.
                let outage = gaps.first { ($0["start"] ?? 0) < restartedAt && ($0["end"] ?? 0) > restartedAt }
                let resumedAt = outage?["end"] ?? 0
                #expect(outage != nil, "no outage seen around the restart: \(gaps)")
                #expect(resumedAt - restartedAt < 2.0, "traffic resumed \(resumedAt - restartedAt) s after the restart")
                #expect((received["last_arrival"] as? Double ?? 0) > restartedAt + 2, "traffic did not keep flowing")
            }
        }
    }
}
