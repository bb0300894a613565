import Foundation
import Testing

/// A test bed from `scripts/netns-setup.sh` under a prefix of its own, so tests and runs never collide.
///
/// Brought up by `init`, torn down by `down()`; `TestBed.with` guarantees the teardown on every path.
struct TestBed: Sendable {
    /// The namespace prefix, `t<4 hex digits>-`.
    let prefix: String
    /// What `up` printed (which emulator, the link).
    let upOutput: String

    /// The repository's root, found from this file's path (Tests/IntegrationTests/TestBed.swift).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The bed script.
    static let script = repositoryRoot.appendingPathComponent("scripts/netns-setup.sh").path

    /// Where `maelstrom-wanem` is: `$MAELSTROM_BED_BIN` if set, else next to this test binary (same build).
    static let binDirectory: String = {
        if let bin = ProcessInfo.processInfo.environment["MAELSTROM_BED_BIN"], !bin.isEmpty { return bin }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().path
    }()

    /// Why the bed cannot be built here, or nil when it can.
    static let skipReason: String? = {
        if let reason = tunSkipReason { return reason }
        for tool in ["iperf3", "ping"] where executable(tool) == nil {
            return "\(tool) is not installed (apt-get install iperf3 iputils-ping)"
        }
        if executable("bash") == nil { return "bash is not installed" }
        return nil
    }()

    /// The trait that skips a bed test, with the reason printed, when the machine cannot host a bed.
    static let needed: ConditionTrait = .enabled(
        if: skipReason == nil, Comment(rawValue: "needs root, /dev/net/tun, iproute2, iperf3 and ping: \(skipReason ?? "available")"))

    /// The full path of a command on the usual system paths, or nil.
    static func executable(_ name: String) -> String? {
        ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A fresh prefix: `t` and four random hex digits.
    static func uniquePrefix() -> String {
        "t" + String(UInt16.random(in: 0...UInt16.max), radix: 16).leftPadded(to: 4) + "-"
    }

    /// Runs the script with `action` and the prefix; returns stdout, throws with stderr on failure.
    @discardableResult
    static func script(_ action: String, prefix: String, _ options: [String] = []) throws -> String {
        try runCommand(executable("bash") ?? "/bin/bash", [script, action, "--prefix", prefix, "--bin", binDirectory] + options)
    }

    /// Brings a bed up with the script's `options` (e.g. `["--delay", "25"]`).
    init(options: [String]) throws {
        let wanem = URL(fileURLWithPath: Self.binDirectory).appendingPathComponent("maelstrom-wanem").path
        guard FileManager.default.isExecutableFile(atPath: wanem) else {
            throw TestFailure("\(wanem) not found: build it first (swift build), or set MAELSTROM_BED_BIN")
        }
        prefix = Self.uniquePrefix()
        do {
            upOutput = try Self.script("up", prefix: prefix, options)
        } catch {
            // A failed `up` cleans up after itself; this is for a script killed half-way.
            _ = try? Self.script("down", prefix: prefix)
            throw error
        }
    }

    /// Removes the bed; returns what `down` printed (the emulators' final counters).
    @discardableResult
    func down() throws -> String { try Self.script("down", prefix: prefix) }

    /// Runs a bed up with `options`, passes it to `body`, and always takes it down again.
    static func with<T>(_ options: [String], _ body: (TestBed) throws -> T) throws -> T {
        let bed = try TestBed(options: options)
        defer { _ = try? bed.down() }
        return try body(bed)
    }

    /// The full name of one of the bed's namespaces (`hostA`, `gwA`, `wan`, `gwB`, `hostB`).
    func namespace(_ role: String) -> String { prefix + role }

    /// Runs a command inside namespace `role` and returns its stdout.
    @discardableResult
    func run(in role: String, _ command: String, _ arguments: [String]) throws -> String {
        guard let path = Self.executable(command) else { throw TestFailure("\(command) is not installed") }
        return try runIP(["netns", "exec", namespace(role), path] + arguments)
    }

    /// Starts a command inside namespace `role` in the background, its output discarded.
    func spawn(in role: String, _ command: String, _ arguments: [String]) throws -> Process {
        guard let ipPath, let path = Self.executable(command) else { throw TestFailure("ip or \(command) is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ipPath)
        process.arguments = ["netns", "exec", namespace(role), path] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The emulators' counters as `status` reports them: direction (`wanab`, `wanba`) → key → value.
    func counters() throws -> [String: [String: String]] {
        // `status` exits non-zero when the bed is incomplete; the text is still worth parsing.
        let text = (try? Self.script("status", prefix: prefix)) ?? ""
        var result: [String: [String: String]] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            for direction in ["wanab", "wanba"] where trimmed.hasPrefix("\(direction): offered=") {
                var pairs: [String: String] = [:]
                for pair in trimmed.dropFirst(direction.count + 2).split(separator: " ") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    if parts.count == 2 { pairs[parts[0]] = parts[1] }
                }
                result[direction] = pairs
            }
        }
        return result
    }

    /// The pids the bed recorded for its processes, by name (`wanab`, `wanba`, `gwA`, `gwB`).
    func recordedPids() -> [String: Int32] {
        let directory = "/run/maelstrom-bed/\(prefix)"
        var pids: [String: Int32] = [:]
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file.hasSuffix(".pid") {
            let text = (try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)) ?? ""
            if let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                pids[String(file.dropLast(4))] = pid
            }
        }
        return pids
    }

    /// The namespaces that exist now whose names start with `prefix`.
    static func namespaces(withPrefix prefix: String) throws -> [String] {
        try runIP(["netns", "list"]).split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(prefix) }
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
