import Foundation

/// Two `maelstromd` daemons started in a `TestBed`'s gateway namespaces, with metrics.
///
/// gwA listens on 198.18.1.1:4500 and protects 10.2.0.0/24 behind gwB (198.18.2.1:4500), and the
/// other way round; their routes (metric 0) take over from the bed's plain ones while they run.
final class BedGateways: @unchecked Sendable {
    let bed: TestBed
    let directory: URL
    private var daemons: [String: Process] = [:]

    /// `peerExtra` is one more line of each peer entry (e.g. `flow-control: split`); `extra` is
    /// appended at the top level of both configs.
    init(bed: TestBed, peerExtra: String = "", extra: String = "") throws {
        self.bed = bed
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(bed.prefix)gateways")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let keys = try BedKeys.write(in: directory)
        try TwoGatewayBed.config(
            listen: "198.18.1.1", peer: "198.18.2.1", peerName: "site-b", subnet: "10.2.0.0/24", extra: extra, keys: keys, node: "gwA", peerExtra: peerExtra
        ).write(to: directory.appendingPathComponent("gwA.yaml"), atomically: true, encoding: .utf8)
        try TwoGatewayBed.config(
            listen: "198.18.2.1", peer: "198.18.1.1", peerName: "site-a", subnet: "10.1.0.0/24", extra: extra, keys: keys, node: "gwB", peerExtra: peerExtra
        ).write(to: directory.appendingPathComponent("gwB.yaml"), atomically: true, encoding: .utf8)
    }

    /// Starts the daemon in `gateway` (gwA or gwB).
    func start(_ gateway: String) throws {
        guard let binary = maelstromdPath else { throw TestFailure("maelstromd is not built") }
        let log = directory.appendingPathComponent("\(gateway).log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", bed.namespace(gateway), binary, "run", "--config", directory.appendingPathComponent("\(gateway).yaml").path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        daemons[gateway] = process
    }

    /// Starts both and waits until each has heard the other.
    func startBoth() throws {
        try start("gwA")
        try start("gwB")
        try waitUntilUp("gwA")
        try waitUntilUp("gwB")
    }

    /// Waits until `gateway` reports its peer up.
    func waitUntilUp(_ gateway: String, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if metric(gateway, "maelstrom_peer_up") == 1 { return }
            usleep(100_000)
        }
        throw TestFailure("\(gateway) did not see its peer within \(timeout) s; log:\n\(log(gateway))")
    }

    /// Kills (SIGKILL) or stops (SIGTERM) the daemon of `gateway`; returns its exit status if it exited.
    @discardableResult
    func stop(_ gateway: String, signal: Int32 = SIGTERM) -> Int32? {
        guard let process = daemons.removeValue(forKey: gateway) else { return nil }
        return stopProcess(process, signal: signal, timeout: 10)
    }

    /// The process id of `gateway`'s daemon (`ip netns exec` execs it, so the id is the daemon's).
    func pid(_ gateway: String) -> Int32? { daemons[gateway]?.processIdentifier }

    /// The resident memory of `gateway`'s daemon in kB (VmRSS), or 0 when it is not running.
    func residentKilobytes(_ gateway: String) -> Int {
        guard let pid = pid(gateway), let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// The daemon log of `gateway`.
    func log(_ gateway: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(gateway).log"), encoding: .utf8)) ?? ""
    }

    /// The sum over labels of metric `name` as served by `gateway`'s daemon.
    func metric(_ gateway: String, _ name: String) -> Double {
        shell("ip netns exec \(bed.namespace(gateway)) curl -s --max-time 3 http://127.0.0.1:9464/metrics", timeout: 10).output
            .split(separator: "\n")
            .filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
            .reduce(0, +)
    }

    /// Waits (the daemon publishes its counters once a second) until metric `name` of `gateway`
    /// exceeds `threshold`; returns the last value read.
    @discardableResult
    func waitForMetric(_ gateway: String, _ name: String, above threshold: Double, timeout: Double = 4) -> Double {
        let deadline = Date().addingTimeInterval(timeout)
        var value = metric(gateway, name)
        while value <= threshold && Date() < deadline {
            usleep(200_000)
            value = metric(gateway, name)
        }
        return value
    }

    /// Stops both daemons and removes the files.
    func tearDown() {
        for gateway in Array(daemons.keys) { stop(gateway) }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// `scripts/traffic.py` of this repository.
let trafficScript = TestBed.repositoryRoot.appendingPathComponent("scripts/traffic.py").path

/// Runs `traffic.py` with `arguments` inside `role`'s namespace and parses its JSON line.
func traffic(_ bed: TestBed, _ role: String, _ arguments: String, timeout: Double = 120) throws -> [String: Any] {
    let result = shell("ip netns exec \(bed.namespace(role)) python3 \(trafficScript) \(arguments)", timeout: timeout)
    guard result.status == 0, let line = result.output.split(separator: "\n").last,
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    else { throw TestFailure("traffic.py \(arguments) in \(role) failed (\(result.status)): \(result.output.suffix(400))") }
    return object
}

/// Runs `traffic.py receive` in the background in `role`, writing its JSON to `out` when done.
func startReceiver(_ bed: TestBed, _ role: String, _ arguments: String, out: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    process.arguments = ["netns", "exec", bed.namespace(role), "python3", trafficScript] + arguments.split(separator: " ").map(String.init) + ["--out", out]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Waits for a background receiver and reads the JSON it wrote.
func receiverResult(_ process: Process, out: String, timeout: Double) throws -> [String: Any] {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    stopProcess(process, signal: SIGKILL, timeout: 1)
    guard let data = FileManager.default.contents(atPath: out),
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw TestFailure("the receiver wrote no result to \(out)") }
    return object
}
