import CTun
import Foundation
import MaelstromTun
import Synchronization
import Testing

/// Where iproute2's `ip` is, if installed.
let ipPath: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

/// Why TUN tests cannot run here, or nil when they can.
let tunSkipReason: String? = {
    if geteuid() != 0 { return "not running as root (euid \(geteuid()))" }
    if access("/dev/net/tun", R_OK | W_OK) != 0 { return "/dev/net/tun is not accessible" }
    if ipPath == nil { return "iproute2 (ip) is not installed" }
    return nil
}()

/// The trait that skips a test, with the reason printed, when TUN namespaces are unavailable.
let needsTun: ConditionTrait = .enabled(if: tunSkipReason == nil,
                             Comment(rawValue: "needs root and /dev/net/tun: \(tunSkipReason ?? "available")"))

/// A test failure with a readable explanation, thrown from code running off the test's task.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `ip` and returns its stdout; throws with stderr if it fails.
@discardableResult
func runIP(_ arguments: [String]) throws -> String {
    guard let ipPath else { throw TestFailure("ip (iproute2) is not installed") }
    return try runCommand(ipPath, arguments)
}

/// Runs a command and returns its stdout; throws with stderr if it fails.
@discardableResult
func runCommand(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Both pipes are tiny here; reading stdout first cannot deadlock on a few bytes of stderr.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFailure("\(path) \(arguments.joined(separator: " ")): \(String(decoding: stderr, as: UTF8.self))")
    }
    return String(decoding: stdout, as: UTF8.self)
}

/// A throwaway network namespace named `mtest-<pid>-<random>`, so parallel tests and runs never collide.
struct TestNamespace {
    let name: String

    init() throws {
        Self.removeStale()
        name = "mtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try runIP(["netns", "add", name])
    }

    func delete() {
        _ = try? runIP(["netns", "delete", name])
    }

    /// Runs `body` on a fresh thread that has entered this namespace (setns is per thread), so every
    /// descriptor and `ip` child it creates lives there.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let path = "/var/run/netns/\(name)"
        let thread = Mutex<IOThread?>(nil)
        defer { thread.withLock { $0 }?.join() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            do {
                let started = try IOThread(name: "netns-test") {
                    let rc = ctun_enter_netns(path)
                    guard rc == 0 else {
                        continuation.resume(throwing: IOError(.namespace, errno: -rc, operation: "setns \(path)"))
                        return
                    }
                    // IPv6 autoconfiguration would put router solicitations on the TUN; the tests want
                    // only their own packets. /proc/sys/net follows the calling thread's namespace.
                    for scope in ["all", "default"] {
                        try? "1".write(toFile: "/proc/sys/net/ipv6/conf/\(scope)/disable_ipv6", atomically: false, encoding: .utf8)
                    }
                    continuation.resume(with: Result { try body() })
                }
                thread.withLock { $0 = started }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Removes namespaces left by earlier runs that crashed before their cleanup.
    private static func removeStale() {
        guard let list = try? runIP(["netns", "list"]) else { return }
        for line in list.split(separator: "\n") {
            let name = line.split(separator: " ").first.map(String.init) ?? ""
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "mtest", let pid = Int32(parts[1]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                _ = try? runIP(["netns", "delete", name])
            }
        }
    }
}

/// Creates a namespace, runs `body` inside it, and deletes the namespace whatever happens.
func inFreshNamespace<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let namespace = try TestNamespace()
    defer { namespace.delete() }
    return try await namespace.run(body)
}

/// Waits on `loop` until `fd`'s token is readable or `deadline` (monotonic ns) passes.
func waitReadable(_ loop: EventLoop, token: Int, deadline: UInt64) throws -> Bool {
    while true {
        let now = MonotonicClock.now()
        guard now < deadline else { return false }
        let events = try loop.wait(timeoutNanoseconds: deadline - now)
        if events.contains(where: { $0.token == token }) { return true }
    }
}

/// Packet building and parsing for the TUN tests (IPv4 only).
enum IPv4 {
    static func checksum(_ bytes: some Collection<UInt8>) -> UInt16 {
        var sum: UInt32 = 0
        var iterator = bytes.makeIterator()
        while let high = iterator.next() {
            let low = iterator.next() ?? 0
            sum += UInt32(high) << 8 | UInt32(low)
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// A 20-byte header with a correct checksum in front of `payload`.
    static func packet(protocol proto: UInt8, source: [UInt8], destination: [UInt8], payload: [UInt8]) -> [UInt8] {
        let total = 20 + payload.count
        var header: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0x12, 0x34, 0x40, 0, 64, proto, 0, 0]
        header += source + destination
        let sum = checksum(header)
        header[10] = UInt8(sum >> 8)
        header[11] = UInt8(sum & 0xFF)
        return header + payload
    }

    static func icmpEcho(type: UInt8, identifier: UInt16, sequence: UInt16, data: [UInt8]) -> [UInt8] {
        var icmp: [UInt8] = [type, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xFF),
                             UInt8(sequence >> 8), UInt8(sequence & 0xFF)] + data
        let sum = checksum(icmp)
        icmp[2] = UInt8(sum >> 8)
        icmp[3] = UInt8(sum & 0xFF)
        return icmp
    }

    static func source(_ packet: [UInt8]) -> [UInt8] { Array(packet[12..<16]) }
    static func destination(_ packet: [UInt8]) -> [UInt8] { Array(packet[16..<20]) }
    static func headerLength(_ packet: [UInt8]) -> Int { Int(packet[0] & 0x0F) * 4 }
    static func payload(_ packet: [UInt8]) -> [UInt8] { Array(packet[headerLength(packet)...]) }
}

/// Reads TUN packets until one satisfies `matches` (others, e.g. stray control traffic, are skipped).
func readPacket(from tun: TunDevice, loop: EventLoop, token: Int, timeoutNanoseconds: UInt64 = 3_000_000_000,
                where matches: ([UInt8]) -> Bool) throws -> [UInt8]? {
    let deadline = MonotonicClock.now() + timeoutNanoseconds
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        while let length = try tun.read(into: buffer) {
            let packet = Array(buffer[0..<length])
            if packet.count >= 20, packet[0] >> 4 == 4, matches(packet) { return packet }
        }
        guard try waitReadable(loop, token: token, deadline: deadline) else { return nil }
    }
}
