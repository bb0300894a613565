import CRelay
import Glibc
import MaelstromConfig
import MaelstromCore
import Testing

@testable import MaelstromSplit

/// One direction of a relay over socket pairs: bytes arrive whole and in order, a FIN is passed
/// on only after them, a full destination pauses the source, and a broken leg is reported.
@Suite struct RelayDirectionTests {
    /// A connected pair of stream sockets, non-blocking.
    private func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
        try #require(rc == 0)
        return (fds[0], fds[1])
    }

    private func direction(capacity: Int32 = 65_536) throws -> RelayDirection {
        var fds: [Int32] = [-1, -1]
        let size = crelay_pipe(&fds, capacity)
        try #require(size > 0)
        return RelayDirection(pipeRead: fds[0], pipeWrite: fds[1], capacity: Int(size))
    }

    private func readAll(_ fd: Int32) -> (bytes: [UInt8], ended: Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { out += buffer[0..<n] } else { return (out, n == 0) }
        }
    }

    @Test func bytesThenTheEndArePassedOn() throws {
        let (client, source) = try pair()
        let (destination, server) = try pair()
        defer { [client, source, destination, server].forEach { close($0) } }
        var relay = try direction()
        defer { relay.closePipe() }
        let message = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(write(client, message, message.count) == message.count)
        shutdown(client, Int32(SHUT_WR))
        guard case .moved(let bytes) = relay.pump(from: source, to: destination) else {
            Issue.record("pump failed")
            return
        }
        #expect(bytes == message.count)
        #expect(relay.sourceEnded && relay.finished && relay.buffered == 0)
        let received = readAll(server)
        #expect(received.bytes == message)
        #expect(received.ended, "the FIN was not passed on")
        // The other way is still open: a half-close, not a close.
        #expect(write(server, [1, 2, 3], 3) == 3)
    }

    @Test func aFullDestinationPausesAndResumes() throws {
        let (client, source) = try pair()
        let (destination, server) = try pair()
        defer { [client, source, destination, server].forEach { close($0) } }
        var small: Int32 = 4_096
        setsockopt(destination, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var relay = try direction(capacity: 4_096)
        defer { relay.closePipe() }
        let message = (0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var sent = 0
        var received: [UInt8] = []
        var ended = false
        // Feed, pump and drain in turns: nothing is lost or reordered however full each stage gets.
        for _ in 0..<100_000 where !ended {
            if sent < message.count {
                let n = message[sent...].withUnsafeBufferPointer { write(client, $0.baseAddress, min($0.count, 16_384)) }
                if n > 0 { sent += n }
                if sent == message.count { shutdown(client, Int32(SHUT_WR)) }
            }
            guard case .moved = relay.pump(from: source, to: destination) else {
                Issue.record("pump failed")
                return
            }
            let drained = readAll(server)
            received += drained.bytes
            ended = drained.ended
        }
        #expect(received.count == message.count)
        #expect(received == message)
        #expect(ended)
    }

    @Test func aResetDestinationIsReported() throws {
        let (client, source) = try pair()
        let (destination, server) = try pair()
        defer { [client, source, destination].forEach { close($0) } }
        var relay = try direction()
        defer { relay.closePipe() }
        // As SplitProxy does: the write into the closed leg must come back as EPIPE, not a signal.
        // Restored after: ignored signals are inherited across exec, and other tests spawn
        // pipelines (`head | maelstromd`) whose writers must still die of SIGPIPE quietly.
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        close(server)
        #expect(write(client, [1, 2, 3, 4], 4) == 4)
        guard case .failed(let error) = relay.pump(from: source, to: destination) else {
            Issue.record("writing to a closed leg was not reported")
            return
        }
        #expect(error == EPIPE || error == ECONNRESET)
    }
}

/// The nftables text the daemon installs.
@Suite struct SplitRulesTests {
    @Test func oneRuleEachWayPerPeerWithPorts() throws {
        var settings = SplitSettings()
        settings.listenPort = 9000
        let rules = SplitRules(
            tunName: "mael0",
            peers: [
                SplitRules.Peer(subnets: [IPPrefix("10.2.0.0/24")!, IPPrefix("10.3.0.0/16")!], ports: SplitPorts()),
                SplitRules.Peer(subnets: [IPPrefix("10.4.0.0/24")!], ports: SplitPorts(include: [PortRange(80, 80)!, PortRange(5000, 5999)!], exclude: [PortRange(5432, 5432)!])),
            ],
            settings: settings)
        let text = rules.nftablesText
        #expect(rules.tableName == "maelstrom_split_mael0")
        #expect(text.contains("socket transparent 1 meta mark set 0x4d53 accept"))
        #expect(text.contains("iifname != \"mael0\" ip daddr { 10.2.0.0/24, 10.3.0.0/16 } meta l4proto tcp meta mark set 0x4d53 tproxy to :9000"))
        #expect(text.contains("iifname \"mael0\" ip saddr { 10.2.0.0/24, 10.3.0.0/16 } meta l4proto tcp meta mark set 0x4d53 tproxy to :9001"))
        #expect(text.contains("ip daddr { 10.4.0.0/24 } meta l4proto tcp tcp dport { 80, 5000-5999 } tcp dport != { 5432 } meta mark set 0x4d53 tproxy to :9000"))
        #expect(text.components(separatedBy: "tproxy to").count - 1 == 4)
        #expect(SplitRules(tunName: "a.b-c", peers: [], settings: settings).tableName == "maelstrom_split_a_b_c")
    }
}
