import Foundation
import MaelstromSecurity

/// Whether a bed's gateways seal their frames (the default, as everywhere) or run `security: none`.
enum BedSecurity {
    /// Keys generated for the bed: each gateway's private key file and the other's public key.
    case sealed
    /// Plaintext frames, for the tests about plaintext itself.
    case none
}

/// A pair of gateway keys written for a bed: private key files (mode 0600) and public keys.
struct BedKeys {
    let privateKeyFiles: [String: String]
    let publicKeys: [String: String]

    /// New keys for gwA and gwB in `directory`.
    static func write(in directory: URL) throws -> BedKeys {
        var files: [String: String] = [:]
        var publics: [String: String] = [:]
        for node in ["gwA", "gwB"] {
            let key = PrivateKey.generate()
            let path = directory.appendingPathComponent("\(node).key").path
            guard FileManager.default.createFile(atPath: path, contents: Data((key.base64 + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else { throw TestFailure("cannot write \(path)") }
            files[node] = path
            publics[node] = key.publicKey.base64
        }
        return BedKeys(privateKeyFiles: files, publicKeys: publics)
    }
}

/// Two real `maelstromd` daemons in network namespaces: hostA — gwA ═ veth ═ gwB — hostB.
///
/// LAN A 10.1.0.0/24 (hostA .2, gwA .1), LAN B 10.2.0.0/24 (hostB .2, gwB .1), WAN 198.18.1.0/24
/// (gwA .1, gwB .2). Plain routes over the WAN have metric 100, so each daemon's own routes win
/// while it runs. Every bed has its own prefix; `tearDown` removes all of it.
final class TwoGatewayBed: @unchecked Sendable {
    let prefix: String
    let directory: URL
    private var daemons: [String: Process] = [:]
    private var helpers: [Process] = []

    /// Whether the WAN between the gateways is IPv6 (fd00:18::1 ↔ fd00:18::2) instead of IPv4.
    let ipv6WAN: Bool
    /// The gateways' keys (nil under `security: none`).
    let keys: BedKeys?

    /// A bed whose hosts have IPv6 addresses too (fd01::2 at A, fd02::2 at B, routed through the
    /// tunnel); with `ipv6WAN` the gateways talk over IPv6.
    init(extraConfig: String = "", ipv6WAN: Bool = false, security: BedSecurity = .sealed) throws {
        self.ipv6WAN = ipv6WAN
        prefix = "mg\(String(UInt32.random(in: 0...0xFFFF), radix: 16))-"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)bed")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        keys = security == .sealed ? try BedKeys.write(in: directory) : nil
        let setup = """
            set -e
            P=\(prefix)
            for n in hostA gwA gwB hostB; do ip netns add $P$n; ip -n $P$n link set lo up; done
            ip link add ha netns ${P}hostA type veth peer name ga netns ${P}gwA
            ip link add gw netns ${P}gwA type veth peer name gw netns ${P}gwB
            ip link add gb netns ${P}gwB type veth peer name hb netns ${P}hostB
            ip -n ${P}hostA addr add 10.1.0.2/24 dev ha; ip -n ${P}hostA link set ha up
            ip -n ${P}hostA route add default via 10.1.0.1
            ip -n ${P}gwA addr add 10.1.0.1/24 dev ga; ip -n ${P}gwA link set ga up
            ip -n ${P}gwA addr add 198.18.1.1/24 dev gw; ip -n ${P}gwA link set gw up
            ip -n ${P}gwB addr add 198.18.1.2/24 dev gw; ip -n ${P}gwB link set gw up
            ip -n ${P}gwB addr add 10.2.0.1/24 dev gb; ip -n ${P}gwB link set gb up
            ip -n ${P}hostB addr add 10.2.0.2/24 dev hb; ip -n ${P}hostB link set hb up
            ip -n ${P}hostB route add default via 10.2.0.1
            ip netns exec ${P}gwA sysctl -qw net.ipv4.ip_forward=1
            ip netns exec ${P}gwB sysctl -qw net.ipv4.ip_forward=1
            ip -n ${P}gwA route add 10.2.0.0/24 via 198.18.1.2 metric 100
            ip -n ${P}gwB route add 10.1.0.0/24 via 198.18.1.1 metric 100
            # IPv6 alongside: the hosts' networks (through the tunnel) and a WAN the gateways may use.
            ip -n ${P}hostA addr add fd01::2/64 dev ha nodad
            ip -n ${P}hostA route add default via fd01::1
            ip -n ${P}gwA addr add fd01::1/64 dev ga nodad
            ip -n ${P}gwA addr add fd00:18::1/64 dev gw nodad
            ip -n ${P}gwB addr add fd00:18::2/64 dev gw nodad
            ip -n ${P}gwB addr add fd02::1/64 dev gb nodad
            ip -n ${P}hostB addr add fd02::2/64 dev hb nodad
            ip -n ${P}hostB route add default via fd02::1
            ip netns exec ${P}gwA sysctl -qw net.ipv6.conf.all.forwarding=1
            ip netns exec ${P}gwB sysctl -qw net.ipv6.conf.all.forwarding=1
            """
        let result = shell(setup)
        guard result.status == 0 else {
            tearDown()
            throw TestFailure("bed setup failed: \(result.output)")
        }
        let (wanA, wanB) = ipv6WAN ? ("[fd00:18::1]", "[fd00:18::2]") : ("198.18.1.1", "198.18.1.2")
        try write(
            config: Self.config(
                listen: wanA, peer: wanB, peerName: "site-b", subnet: "10.2.0.0/24, fd02::/64", extra: extraConfig, keys: keys, node: "gwA"),
            name: "gwA.yaml")
        try write(
            config: Self.config(
                listen: wanB, peer: wanA, peerName: "site-a", subnet: "10.1.0.0/24, fd01::/64", extra: extraConfig, keys: keys, node: "gwB"),
            name: "gwB.yaml")
    }

    /// A gateway's config: sealed with `keys` (as `node`), or `security: none` without.
    static func config(
        listen: String, peer: String, peerName: String, subnet: String, extra: String, keys: BedKeys?, node: String, peerExtra: String = ""
    ) -> String {
        let security: String
        let peerKey: String
        if let keys {
            security = "private-key-file: \(keys.privateKeyFiles[node]!)"
            peerKey = "\n    public-key: \(keys.publicKeys[node == "gwA" ? "gwB" : "gwA"]!)"
        } else {
            security = "security: none"
            peerKey = ""
        }
        return """
            tun:
              name: mael0
              mtu: 1400
            listen: "\(listen):4500"
            wan-mtu: 1500
            peers:
              - name: \(peerName)
                endpoint: "\(peer):4500"
                subnets: [\(subnet)]\(peerKey)\(peerExtra.isEmpty ? "" : "\n    " + peerExtra)
            metrics:
              listen: 127.0.0.1:9464
            log:
              level: info
            \(security)
            \(extra)
            """
    }

    /// The public key of `node` (gwA or gwB), base64.
    func publicKey(_ node: String) -> String { keys?.publicKeys[node] ?? "" }

    private func write(config: String, name: String) throws {
        try config.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// The namespace name of `node` (hostA, gwA, gwB, hostB).
    func namespace(_ node: String) -> String { prefix + node }

    /// Starts a long-running command in a node's namespace as a direct child (stopped at tear-down).
    ///
    /// Never a daemonizing command through `shell`: a grandchild holding Foundation's pipes makes
    /// `Process` wait forever.
    @discardableResult
    func spawn(_ node: String, _ arguments: [String], output: URL? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace(node)] + arguments
        process.standardInput = FileHandle.nullDevice
        if let output {
            FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            process.standardOutput = handle
            process.standardError = FileHandle.nullDevice
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        helpers.append(process)
        return process
    }

    /// Runs a command inside a node's namespace.
    @discardableResult
    func exec(_ node: String, _ command: String, timeout: Double = 60) -> ShellResult {
        shell("ip netns exec \(namespace(node)) \(command)", timeout: timeout)
    }

    /// Starts the daemon of gateway `node` (gwA or gwB) and waits until it hears its peer.
    func startDaemon(_ node: String) throws {
        guard let binary = maelstromdPath else { throw TestFailure("maelstromd is not built") }
        let log = directory.appendingPathComponent("\(node).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace(node), binary, "run", "--config", directory.appendingPathComponent("\(node).yaml").path]
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        daemons[node] = process
    }

    /// Waits until `node`'s log says its peer is up (a keepalive came back), or throws.
    func waitForPeer(_ node: String, occurrences: Int = 1, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log(node).components(separatedBy: "is up").count - 1 >= occurrences { return }
            usleep(50_000)
        }
        throw TestFailure("\(node) did not see its peer within \(timeout) s; log:\n\(log(node))")
    }

    /// The daemon log of `node`.
    func log(_ node: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(node).log"), encoding: .utf8)) ?? ""
    }

    /// The process id of `node`'s daemon (`ip netns exec` execs it in place), or nil.
    func daemonPID(_ node: String) -> Int32? { daemons[node].map(\.processIdentifier) }

    /// Whether the daemon of `node` is still running.
    func isRunning(_ node: String) -> Bool { daemons[node]?.isRunning ?? false }

    /// Sends `signal` to the daemon of `node` and waits for it to exit; returns its exit status.
    @discardableResult
    func stopDaemon(_ node: String, signal: Int32 = SIGTERM, timeout: Double = 10) -> Int32? {
        guard let process = daemons.removeValue(forKey: node) else { return nil }
        return stopProcess(process, signal: signal, timeout: timeout)
    }

    /// Fetches `node`'s metrics text from its daemon.
    func metrics(_ node: String) -> String {
        exec(node, "curl -s --max-time 3 http://127.0.0.1:9464/metrics").output
    }

    /// The value of a metric line (`name{labels} value`) in `node`'s metrics, summed over labels.
    func metric(_ node: String, _ name: String) -> Double {
        metrics(node).split(separator: "\n")
            .filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
            .reduce(0, +)
    }

    /// Stops the daemons and removes the namespaces and files.
    func tearDown() {
        for node in Array(daemons.keys) { stopDaemon(node) }
        for process in helpers { stopProcess(process, signal: SIGTERM, timeout: 2) }
        helpers.removeAll()
        shell("for n in hostA gwA gwB hostB; do ip netns pids \(prefix)$n 2>/dev/null | xargs -r kill -9; ip netns del \(prefix)$n 2>/dev/null; done; true")
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Signals a child and polls until it is gone, killing it after `timeout` seconds.
///
/// Never `waitUntilExit()`: Foundation's Process spins in it forever when the child outlives the
/// signal or a grandchild holds its descriptors.
@discardableResult
func stopProcess(_ process: Process, signal: Int32, timeout: Double) -> Int32? {
    guard process.isRunning else { return process.terminationStatus }
    kill(process.processIdentifier, signal)
    var deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    guard process.isRunning else { return process.terminationStatus }
    kill(process.processIdentifier, SIGKILL)
    deadline = Date().addingTimeInterval(2)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    return nil
}
