import Foundation
import Testing

/// Round-trip times in milliseconds from `ping` output, in sequence order.
private func pingTimes(_ output: String) -> [Double] {
    output.split(separator: "\n").compactMap { line in
        guard let start = line.range(of: "time=") else { return nil }
        return Double(line[start.upperBound...].prefix { $0.isNumber || $0 == "." })
    }
}

/// `ping`'s summary `rtt min/avg/max/mdev = a/b/c/d ms`, to the microsecond (per-packet lines have
/// only three significant digits).
private func pingSummary(_ output: String) -> (min: Double, avg: Double, max: Double)? {
    guard let line = output.split(separator: "\n").first(where: { $0.contains("min/avg/max") }),
        let equals = line.range(of: "= ")
    else { return nil }
    let values = line[equals.upperBound...].split(separator: " ").first?.split(separator: "/").compactMap { Double($0) } ?? []
    return values.count >= 3 ? (values[0], values[1], values[2]) : nil
}

/// A number inside iperf3's JSON, e.g. `["end", "sum_received", "bits_per_second"]`.
private func jsonNumber(_ text: String, _ path: [String]) throws -> Double {
    var node: Any = try JSONSerialization.jsonObject(with: Data(text.utf8))
    for key in path {
        guard let object = node as? [String: Any], let next = object[key] else {
            throw TestFailure("iperf3 JSON has no \(path.joined(separator: ".")): \(text.prefix(300))")
        }
        node = next
    }
    guard let number = node as? NSNumber else { throw TestFailure("iperf3 JSON \(path.joined(separator: ".")) is not a number") }
    return number.doubleValue
}

/// Starts a one-shot iperf3 server in hostB and waits until it listens.
private func startIperfServer(_ bed: TestBed) throws -> Process {
    let server = try bed.spawn(in: "hostB", "iperf3", ["-s", "-1"])
    let deadline = Date().addingTimeInterval(5)
    while Date() < deadline {
        if let listening = try? bed.run(in: "hostB", "ss", ["-Hltn"]), listening.contains(":5201") { return server }
        Thread.sleep(forTimeInterval: 0.05)
    }
    server.terminate()
    throw TestFailure("iperf3 server in \(bed.namespace("hostB")) did not listen within 5 s")
}

/// Whether `pid` is a live process (a zombie nobody reaps counts as gone).
private func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.range(of: ") ", options: .backwards)
    else { return false }
    return stat[close.upperBound...].first != "Z"
}

/// The test bed end to end: five namespaces, maelstrom-wanem in the middle, real ping and iperf3.
///
/// Serialized: two beds at once would share two cores and blur each other's timing.
extension NetworkTests {
    @Suite("WAN emulator test bed (netns-setup.sh + maelstrom-wanem)", .serialized, TestBed.needed)
    struct WANEmulatorTests {
        @Test("25 ms each way, 100 Mbit/s, 1 MB queue: ping RTT is 50 ms with little jitter; Reno fills the link")
        func delayAndRate() throws {
            try TestBed.with(["--emulator", "wanem", "--delay", "25", "--rate", "100", "--queue-bytes", "1000000",
                              "--loss", "none"]) { bed in
                // The first ping pays for ARP on every hop; the 20 after it show the link itself.
                _ = try bed.run(in: "hostA", "ping", ["-n", "-c", "1", "-W", "2", "10.2.0.2"])
                let ping = try bed.run(in: "hostA", "ping", ["-n", "-c", "20", "-i", "0.2", "-W", "2", "10.2.0.2"])
                let times = pingTimes(ping).sorted()
                try #require(times.count == 20, "ping lost packets on a loss-free link:\n\(ping)")
                let summary = try #require(pingSummary(ping), "no summary line in:\n\(ping)")
                let median = (times[9] + times[10]) / 2
                let jitter = summary.max - summary.min
                print("bed ping hostA→hostB: median RTT \(median) ms, min/avg/max \(summary.min)/\(summary.avg)/\(summary.max) ms, jitter (max−min) \(String(format: "%.3f", jitter)) ms")
                #expect(abs(median - 50) <= 1, "median RTT \(median) ms")
                // Late wake-ups on a shared two-core machine are not the link's jitter (two in 20 were
                // seen, of 2-8 ms): judge the spread of the middle 16 of 20 samples, report the range.
                let spread = times[17] - times[2]
                #expect(spread < 3, "RTT spread \(spread) ms over the middle 16 of 20 pings (max−min \(jitter) ms)")

                let server = try startIperfServer(bed)
                defer { server.terminate() }
                let report = try bed.run(in: "hostA", "iperf3", ["-c", "10.2.0.2", "-C", "reno", "-t", "8", "-J"])
                let goodput = try jsonNumber(report, ["end", "sum_received", "bits_per_second"]) / 1e6
                let counters = try bed.counters()
                print("bed Reno goodput \(String(format: "%.1f", goodput)) Mbit/s; A→B emulator: \(counters["wanab"] ?? [:])")
                #expect(goodput >= 90, "Reno goodput \(goodput) Mbit/s on an idle 100 Mbit/s link")
                #expect(counters["wanab"]?["write_dropped"] == "0")
                #expect(counters["wanab"]?["dropped_line"] == "0")
            }
        }

        @Test("bernoulli:0.01 loses about 1% of a UDP stream")
        func bernoulliLoss() throws {
            try TestBed.with(["--emulator", "wanem", "--delay", "5", "--rate", "100", "--loss", "bernoulli:0.01",
                              "--seed", "7"]) { bed in
                let server = try startIperfServer(bed)
                defer { server.terminate() }
                // 20 Mbit/s of 1000-byte datagrams for 2 s: 5000 packets, far below the rate, so only the model drops.
                let report = try bed.run(in: "hostA", "iperf3", ["-c", "10.2.0.2", "-u", "-b", "20M", "-l", "1000", "-t", "2", "-J"])
                let packets = try jsonNumber(report, ["end", "sum_received", "packets"])
                let lost = try jsonNumber(report, ["end", "sum_received", "lost_packets"])
                try #require(packets >= 4000, "only \(packets) packets counted")
                let fraction = lost / packets
                let wanab = try bed.counters()["wanab"] ?? [:]
                print("bed UDP loss: \(Int(lost)) of \(Int(packets)) = \(String(format: "%.3f", fraction * 100))%; A→B emulator: \(wanab)")
                // Binomial standard deviation at n = 5000 is 0.14 %: the band is about 3.5 sigma either side.
                #expect(fraction >= 0.005 && fraction <= 0.017, "loss fraction \(fraction)")
                #expect(wanab["dropped_queue"] == "0")
            }
        }

        @Test("up twice leaves one bed; a failed up removes what it made; down leaves no namespace and no process")
        func lifecycle() throws {
            let bed = try TestBed(options: ["--emulator", "wanem", "--delay", "1"])
            var tornDown = false
            defer { if !tornDown { _ = try? bed.down() } }
            try TestBed.script("up", prefix: bed.prefix, ["--emulator", "wanem", "--delay", "2"])
            #expect(try TestBed.namespaces(withPrefix: bed.prefix).sorted()
                    == ["gwA", "gwB", "hostA", "hostB", "wan"].map(bed.namespace).sorted())
            let pids = bed.recordedPids()
            #expect(Set(pids.keys) == ["wanab", "wanba"])
            #expect(pids.values.allSatisfy(isAlive))
            let inWan = try runIP(["netns", "pids", bed.namespace("wan")]).split(separator: "\n")
            #expect(inWan.count == 2, "processes in the wan namespace: \(inWan)")

            let farewell = try bed.down()
            tornDown = true
            #expect(farewell.contains("wanab: offered="), "down prints the emulators' final counters")
            #expect(try TestBed.namespaces(withPrefix: bed.prefix).isEmpty)
            #expect(pids.values.allSatisfy { !isAlive($0) })
            #expect(!FileManager.default.fileExists(atPath: "/run/maelstrom-bed/\(bed.prefix)"))

            // An emulator that refuses its arguments fails `up`, which must then remove the namespaces it made.
            let failing = TestBed.uniquePrefix()
            #expect(throws: (any Error).self) {
                try TestBed.script("up", prefix: failing, ["--emulator", "wanem", "--loss", "nonsense:1"])
            }
            let leftovers = try TestBed.namespaces(withPrefix: failing)
            if !leftovers.isEmpty { _ = try? TestBed.script("down", prefix: failing) }
            #expect(leftovers.isEmpty)
        }
    }
}
