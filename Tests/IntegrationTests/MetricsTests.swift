import Foundation
import MaelstromTun
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

// `maelstromd` is an executable target, which this test target cannot import, so its metrics client is
// tested end to end: the built binary against a canned scrape. A test that runs a real daemon and
// scrapes it needs root and TUN devices (see `needsTun`); these do not.

/// The built `maelstromd`: `$MAELSTROMD_BINARY`, else the one next to this test bundle (the same build,
/// whatever its scratch path), else `.build/debug/maelstromd` above it or in the working directory.
private let statsTestBinary: String? = {
    let files = FileManager.default
    if let explicit = ProcessInfo.processInfo.environment["MAELSTROMD_BINARY"] {
        return files.isExecutableFile(atPath: explicit) ? explicit : nil
    }
    var directories = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
    if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
    var candidates = directories.map { $0.appendingPathComponent("maelstromd").path }
    for directory in directories + [URL(fileURLWithPath: files.currentDirectoryPath, isDirectory: true)] {
        var ancestor = directory.standardizedFileURL
        for _ in 0..<8 {
            candidates.append(ancestor.appendingPathComponent(".build/debug/maelstromd").path)
            ancestor = ancestor.deletingLastPathComponent()
        }
    }
    return candidates.first { files.isExecutableFile(atPath: $0) }
}()

/// Skips, saying why, when the binary was not built (`swift build --build-tests` builds it; `swift test` alone does not).
private let needsStatsBinary: ConditionTrait = .enabled(
    if: statsTestBinary != nil,
    Comment(rawValue: "needs a built maelstromd: run `swift build --build-tests` before `swift test`, or set MAELSTROMD_BINARY"))

/// Whether the binary has the `stats` subcommand; without it every check below would fail on a usage error.
private let hasStatsSubcommand: Bool = {
    (try? runMaelstromd(["help", "stats"]))?.stdout.contains("maelstromd stats") == true
}()

@Suite("maelstromd stats against a metrics endpoint", needsStatsBinary)
struct MetricsTests {
    init() throws {
        try #require(
            hasStatsSubcommand,
            "\(statsTestBinary ?? "maelstromd") has no stats subcommand: register StatsCommand.self in Maelstromd's subcommands and rebuild")
    }

    @Test("a daemon that does not answer gets one line on stderr naming the URL, and exit code 1")
    func unreachableDaemon() throws {
        // Port 1 (tcpmux) has no listener on any machine this runs on: the connection is refused.
        let url = "http://127.0.0.1:1/metrics"
        let run = try runMaelstromd(["stats", "--metrics", url])
        #expect(run.status == 1, "stderr: \(run.stderr)")
        #expect(run.stdout.isEmpty)
        let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "stderr: \(run.stderr)")
        #expect(lines.first?.contains(url) == true, "stderr: \(run.stderr)")
    }

    @Test("--json reads each peer's counters, gauges and latency quantiles, and the gateway counters")
    func jsonSummary() throws {
        let server = try CannedHTTPServer(body: cannedExposition)
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/metrics"

        let run = try runMaelstromd(["stats", "--metrics", url, "--json"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.split(separator: "\n").count == 1, "one JSON object on one line: \(run.stdout)")
        #expect(server.requestLines.first == "GET /metrics HTTP/1.1")

        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let stats = try decoder.decode(StatsJSON.self, from: Data(run.stdout.utf8))
        #expect(stats.url == url)
        // Configuration order comes from the histogram, which lists site-b first.
        #expect(stats.peers.map(\.name) == ["site-b", "site-c"])

        let b = try #require(stats.peers.first)
        #expect(b.up)
        #expect(b.rttSeconds == 0.0125)
        #expect(b.dataFramesSent == 1000)
        #expect(b.dataBytesSent == 1_400_000)
        #expect(b.repairFramesSent == 375)
        #expect(b.dataFramesReceived == 900)
        #expect(b.dataBytesReceived == 1_260_000)
        #expect(b.repairFramesReceived == 370)
        #expect(b.packetsRebuilt == 100)
        #expect(b.packetsUnrecoverable == 2)
        #expect(abs(b.lossRatio - 102.0 / 1002.0) < 1e-12)
        #expect(b.recoveryLatency.count == 100)
        // 50 values in (256, 512] µs and 50 in (512, 1024] µs; interpolated as PromQL's histogram_quantile.
        let p50 = try #require(b.recoveryLatency.p50Seconds)
        let p99 = try #require(b.recoveryLatency.p99Seconds)
        #expect(abs(p50 - 0.000512) < 1e-12)
        #expect(abs(p99 - (0.000512 + 0.000512 * 49.0 / 50.0)) < 1e-12)

        let c = try #require(stats.peers.last)
        #expect(!c.up)
        #expect(c.rttSeconds == nil)
        #expect(c.dataFramesSent == 7)
        #expect(c.packetsRebuilt == 0)
        #expect(c.lossRatio == 0)
        #expect(c.recoveryLatency.count == 0)
        #expect(c.recoveryLatency.p50Seconds == nil)
        #expect(c.recoveryLatency.p99Seconds == nil)

        #expect(stats.gateway["no_route_packets"] == 3)
        #expect(stats.gateway["send_queue_drops"] == 12)
        #expect(stats.gateway["datagrams_received"] == 5000)
        #expect(stats.gateway["packets_read"] == 4000)
        #expect(stats.gateway["unknown_source_datagrams"] == 0)
        #expect(stats.gateway.count == 19)
    }

    @Test("the text summary has a block per peer and lists only the gateway drops that are not zero")
    func textSummary() throws {
        let server = try CannedHTTPServer(body: cannedExposition)
        defer { server.stop() }
        let run = try runMaelstromd(["stats", "--metrics", "http://127.0.0.1:\(server.port)/metrics"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("site-b: up, rtt 12.50 ms"), "\(run.stdout)")
        #expect(run.stdout.contains("site-c: DOWN"), "\(run.stdout)")
        #expect(run.stdout.contains("rebuilt 100, unrecoverable 2"), "\(run.stdout)")
        #expect(run.stdout.contains("gateway drops: no_route_packets 3, send_queue_drops 12\n"), "\(run.stdout)")
        #expect(!run.stdout.contains("unknown_source"), "zero drops are left out: \(run.stdout)")
    }
}

/// The shape of `maelstromd stats --json`, as a script would read it.
private struct StatsJSON: Decodable {
    /// One entry of `peers`.
    struct Peer: Decodable {
        /// `recovery_latency`.
        struct Latency: Decodable {
            var count: UInt64
            var p50Seconds: Double?
            var p99Seconds: Double?
        }
        var name: String
        var up: Bool
        var rttSeconds: Double?
        var dataFramesSent: UInt64
        var dataBytesSent: UInt64
        var repairFramesSent: UInt64
        var dataFramesReceived: UInt64
        var dataBytesReceived: UInt64
        var repairFramesReceived: UInt64
        var packetsRebuilt: UInt64
        var packetsUnrecoverable: UInt64
        var lossRatio: Double
        var recoveryLatency: Latency
    }
    var url: String
    var peers: [Peer]
    var gateway: [String: UInt64]
}

/// A scrape of two peers as the daemon serves it: families in hash order, the histogram in
/// configuration order, plus a foreign series with escaped label values the parser must step over.
private let cannedExposition: String = {
    var lines = [
        "# HELP maelstrom_peer_up 1 if the peer was heard from within the peer timeout, else 0.",
        "# TYPE maelstrom_peer_up gauge",
        #"maelstrom_peer_up{peer="site-c"} 0.0"#,
        #"maelstrom_peer_up{peer="site-b"} 1.0"#,
        "# TYPE maelstrom_data_frames_sent_total counter",
        #"maelstrom_data_frames_sent_total{peer="site-c"} 7"#,
        #"maelstrom_data_frames_sent_total{peer="site-b"} 1000"#,
        #"maelstrom_data_bytes_sent_total{peer="site-b"} 1400000"#,
        #"maelstrom_repair_frames_sent_total{peer="site-b"} 375"#,
        #"maelstrom_data_frames_received_total{peer="site-b"} 900"#,
        #"maelstrom_data_bytes_received_total{peer="site-b"} 1260000"#,
        #"maelstrom_repair_frames_received_total{peer="site-b"} 370"#,
        #"maelstrom_packets_rebuilt_total{peer="site-b"} 100"#,
        #"maelstrom_packets_unrecoverable_total{peer="site-b"} 2"#,
        #"maelstrom_packets_rebuilt_total{peer="site-c"} 0"#,
        #"maelstrom_peer_rtt_seconds{peer="site-b"} 0.0125"#,
        #"maelstrom_peer_loss_ratio{peer="site-b"} \#(102.0 / 1002.0)"#,
        #"maelstrom_peer_loss_ratio{peer="site-c"} 0.0"#,
        #"other_exporter_requests_total{path="/a \"quoted\" \\ path",code="200"} 17 1700000000000"#,
        "maelstrom_unknown_source_datagrams_total 0",
        "maelstrom_no_route_packets_total 3",
        "maelstrom_bad_packets_total 0",
        "maelstrom_tun_read_truncated_total 0",
        "maelstrom_tun_write_dropped_total 0",
        "maelstrom_udp_receive_truncated_total 0",
        "maelstrom_udp_send_refused_total 0",
        "maelstrom_send_queue_drops_total 12",
        "maelstrom_datagrams_received_total 5000",
        "maelstrom_packets_read_total 4000",
        "# TYPE maelstrom_recovery_latency_seconds histogram",
    ]
    for (peer, perBucket) in [("site-b", [9: 50, 10: 50]), ("site-c", [:])] {
        var cumulative = 0
        for index in 0..<25 {
            cumulative += perBucket[index] ?? 0
            let bound = index == 24 ? "+Inf" : "\(Double(1 << index) / 1e6)"
            lines.append(#"maelstrom_recovery_latency_seconds_bucket{peer="\#(peer)",le="\#(bound)"} \#(cumulative)"#)
        }
        lines.append(#"maelstrom_recovery_latency_seconds_sum{peer="\#(peer)"} \#(Double(cumulative) * 0.0005)"#)
        lines.append(#"maelstrom_recovery_latency_seconds_count{peer="\#(peer)"} \#(cumulative)"#)
    }
    return lines.joined(separator: "\n") + "\n"
}()

/// What a finished `maelstromd` run printed and returned.
private struct ProcessRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the built `maelstromd`; a run that hangs is killed after 30 s so it fails the test, not the suite.
private func runMaelstromd(_ arguments: [String]) throws -> ProcessRun {
    let path = try #require(statsTestBinary)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
    // Both outputs are a few lines; reading stdout first cannot deadlock on stderr.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.cancel()
    return ProcessRun(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

/// A loopback HTTP responder on its own thread: answers every request with `200` and one fixed body,
/// and remembers the request lines, so the client's side is tested against bytes written by hand.
private final class CannedHTTPServer: Sendable {
    /// The port it listens on, on 127.0.0.1.
    let port: UInt16
    private let listener: Int32
    private let stopping = Atomic<Bool>(false)
    private let seen = Mutex<[String]>([])
    private let thread = Mutex<IOThread?>(nil)

    /// Starts listening on an ephemeral port and serving `body`.
    init(body: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CannedServerError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw CannedServerError("bind/listen on 127.0.0.1: errno \(errno)")
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let response = Array(
            ("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n" + body).utf8)
        let started = try IOThread(name: "canned-http") { [self] in serve(response) }
        thread.withLock { $0 = started }
    }

    /// The request line of every request answered so far.
    var requestLines: [String] { seen.withLock { $0 } }

    /// Stops accepting, waits for the thread, closes the socket.
    func stop() {
        stopping.store(true, ordering: .releasing)
        thread.withLock { $0 }?.join()
        close(listener)
    }

    private func serve(_ response: [UInt8]) {
        while !stopping.load(ordering: .acquiring) {
            // Polling with a short timeout is what lets stop() end a thread blocked waiting for a client.
            var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 50) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            defer { close(client) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: request, as: UTF8.self).contains("\r\n\r\n") {
                let count = read(client, &chunk, chunk.count)
                guard count > 0 else { break }
                request.append(contentsOf: chunk[0..<count])
            }
            let head = String(decoding: request, as: UTF8.self)
            if let line = head.components(separatedBy: "\r\n").first { seen.withLock { $0.append(line) } }
            var offset = 0
            while offset < response.count {
                let written = response[offset...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                guard written > 0 else { break }
                offset += written
            }
        }
    }
}

/// A setup failure of the canned server, with what the system said.
private struct CannedServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
