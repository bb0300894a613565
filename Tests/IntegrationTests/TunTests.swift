import Foundation
import MaelstromTun
import Testing

/// What the in-namespace body saw, checked on the test's task (issues recorded off-task are not attributed).
private struct TunObservations: Sendable {
    var interfaceName = ""
    var linkLine = ""
    var udpPacket: [UInt8]?
    var echoReply: [UInt8]?
    var duplicateAddressError: IOError?
}

@Suite("TUN device in a private network namespace", needsTun)
struct TunTests {
    static let peer: [UInt8] = [10, 77, 0, 2]
    static let local: [UInt8] = [10, 77, 0, 1]

    @Test("UDP from a socket arrives on the TUN; an ICMP echo written to the TUN is answered")
    func udpOutAndPingIn() async throws {
        let echoData = (0..<32).map { UInt8($0) }
        let seen = try await inFreshNamespace { () throws -> TunObservations in
            var seen = TunObservations()
            let tun = try TunDevice(name: "mtun%d")
            seen.interfaceName = tun.name
            try tun.setMTU(1400)
            try tun.setUp()
            try tun.addAddress("10.77.0.1/24")
            do throws(IOError) {
                try tun.addAddress("10.77.0.1/24")
            } catch {
                seen.duplicateAddressError = error
            }
            seen.linkLine = try runIP(["-o", "link", "show", tun.name])

            let loop = try EventLoop()
            try loop.register(tun.fd, token: 1)

            // Outbound: a datagram to the peer is routed into the TUN as an IPv4/UDP packet.
            let socket = try UDPSocket(binding: try SocketAddress("10.77.0.1:0").orThrow("bind address"))
            let batch = OutgoingBatch(capacity: 1)
            let header: [UInt8] = Array("hdr:".utf8)
            let payload: [UInt8] = Array("hello tun".utf8)
            let destination = try SocketAddress("10.77.0.2:9999").orThrow("peer address")
            let sent = try header.withUnsafeBytes { h in
                try payload.withUnsafeBytes { p in
                    batch.append(header: h, payload: p, to: destination)
                    return try socket.sendBatch(batch)
                }
            }
            guard sent == 1 else { throw TestFailure("sendBatch sent \(sent) of 1") }
            seen.udpPacket = try readPacket(from: tun, loop: loop, token: 1) { $0[9] == 17 }

            // Inbound: an echo request from the peer, written into the TUN, is answered by the kernel.
            let request = IPv4.packet(protocol: 1, source: Self.peer, destination: Self.local,
                                      payload: IPv4.icmpEcho(type: 8, identifier: 0x4D53, sequence: 7, data: echoData))
            let written = try request.withUnsafeBytes { try tun.write($0) }
            guard written else { throw TestFailure("TUN refused the echo request: errno \(tun.counters.lastWriteErrno)") }
            seen.echoReply = try readPacket(from: tun, loop: loop, token: 1) { $0[9] == 1 }
            return seen
        }

        #expect(seen.interfaceName == "mtun0")
        #expect(seen.linkLine.contains("mtu 1400"), "ip link: \(seen.linkLine)")
        #expect(seen.linkLine.contains(",UP"), "ip link: \(seen.linkLine)")
        let duplicate = try #require(seen.duplicateAddressError)
        #expect(duplicate.code == .command)
        #expect(duplicate.message.hasPrefix("ip address add 10.77.0.1/24 dev mtun0: exit status 2: "), "\(duplicate)")
        #expect(duplicate.message.contains("already assigned") || duplicate.message.contains("File exists"), "\(duplicate)")

        let udp = try #require(seen.udpPacket, "no UDP packet came out of the TUN")
        #expect(udp[0] >> 4 == 4)
        #expect(udp[9] == 17)
        #expect(IPv4.destination(udp) == Self.peer)
        #expect(IPv4.source(udp) == Self.local)
        let udpPayload = IPv4.payload(udp)
        #expect(udpPayload.count == 8 + 13)
        #expect(Array(udpPayload[2..<4]) == [0x27, 0x0F])  // port 9999
        #expect(Array(udpPayload[8...]) == Array("hdr:hello tun".utf8))

        let reply = try #require(seen.echoReply, "no ICMP echo reply came out of the TUN")
        #expect(IPv4.source(reply) == Self.local)
        #expect(IPv4.destination(reply) == Self.peer)
        let icmp = IPv4.payload(reply)
        #expect(icmp[0] == 0, "ICMP type \(icmp[0]) is not an echo reply")
        #expect(Array(icmp[4..<8]) == [0x4D, 0x53, 0, 7])
        #expect(Array(icmp[8...]) == echoData)
        #expect(IPv4.checksum(icmp) == 0)
    }

    @Test("routes steer traffic into the TUN; unroutable messages are skipped and counted; long packets are dropped")
    func routesSkipsAndTruncation() async throws {
        struct Seen: Sendable {
            var routed: [UInt8]?
            var sentAfterRemoval = -1
            var dropped: UInt64 = 0
            var lastErrno: Int32 = 0
            var delivered: [[UInt8]] = []
            var truncatedBatchCount = -1
            var readTruncated: UInt64 = 0
        }
        let seen = try await inFreshNamespace { () throws -> Seen in
            var seen = Seen()
            let tun = try TunDevice(name: "mtun0")
            try tun.setUp()
            try tun.addAddress("10.77.0.1/24")
            try tun.addRoute(prefix: "10.78.0.0/16")
            let loop = try EventLoop()
            try loop.register(tun.fd, token: 1)
            let socket = try UDPSocket(binding: try SocketAddress("0.0.0.0:0").orThrow("bind address"))
            let routedPeer = try SocketAddress("10.78.1.1:5000").orThrow("routed peer")
            let peer = try SocketAddress("10.77.0.2:5000").orThrow("peer")

            let one: [UInt8] = [1]
            let big = [UInt8](repeating: 0xAB, count: 300)
            try one.withUnsafeBytes { payload in
                try big.withUnsafeBytes { bigPayload in
                    let none = UnsafeRawBufferPointer(start: nil, count: 0)
                    let batch = OutgoingBatch(capacity: 4, headerCapacity: 0)
                    batch.append(header: none, payload: payload, to: routedPeer)
                    _ = try socket.sendBatch(batch)
                    seen.routed = try readPacket(from: tun, loop: loop, token: 1) { IPv4.destination($0) == [10, 78, 1, 1] }

                    // Without the route (and with no default route in the namespace) the middle message
                    // fails with ENETUNREACH; the ones around it still go out.
                    try tun.removeRoute(prefix: "10.78.0.0/16")
                    batch.removeAll()
                    batch.append(header: none, payload: payload, to: peer)
                    batch.append(header: none, payload: payload, to: routedPeer)
                    batch.append(header: none, payload: payload, to: peer)
                    seen.sentAfterRemoval = try socket.sendBatch(batch)
                    seen.dropped = socket.counters.sendDropped
                    seen.lastErrno = socket.counters.lastSendErrno
                    for _ in 0..<2 {
                        if let packet = try readPacket(from: tun, loop: loop, token: 1, where: { $0[9] == 17 }) {
                            seen.delivered.append(IPv4.destination(packet))
                        }
                    }

                    // A 328-byte packet cannot fit a 64-byte slot: readBatch drops and counts it.
                    batch.removeAll()
                    batch.append(header: none, payload: bigPayload, to: peer)
                    _ = try socket.sendBatch(batch)
                    guard try waitReadable(loop, token: 1, deadline: MonotonicClock.now() + 3_000_000_000) else {
                        throw TestFailure("the large packet never reached the TUN")
                    }
                    seen.truncatedBatchCount = try tun.readBatch(into: PacketBatch(capacity: 8, slotSize: 64))
                    seen.readTruncated = tun.counters.readTruncated
                }
            }
            return seen
        }

        let routed = try #require(seen.routed, "nothing arrived through the added route")
        #expect(IPv4.destination(routed) == [10, 78, 1, 1])
        #expect(seen.sentAfterRemoval == 3)
        #expect(seen.dropped == 1)
        #expect(seen.lastErrno == ENETUNREACH)
        #expect(seen.delivered == [Self.peer, Self.peer])
        #expect(seen.truncatedBatchCount == 0)
        #expect(seen.readTruncated == 1)
    }

    @Test("multi-queue: a second queue attaches to the same interface; a single-queue open of it fails")
    func multiQueue() async throws {
        let (first, second, error) = try await inFreshNamespace { () throws -> (String, String, IOError?) in
            let a = try TunDevice(name: "mq%d", multiQueue: true)
            let b = try TunDevice(name: a.name, multiQueue: true)
            var failure: IOError?
            do throws(IOError) { _ = try TunDevice(name: a.name) } catch { failure = error }
            return (a.name, b.name, failure)
        }
        #expect(first == "mq0")
        #expect(second == "mq0")
        let refused = try #require(error)
        #expect(refused.code == .tunOpen)
        #expect(refused.message.hasPrefix("open /dev/net/tun as mq0: "))
    }

    @Test("bad configuration input is rejected before any command runs")
    func invalidInput() async throws {
        let errors = try await inFreshNamespace { () throws -> [IOError?] in
            let tun = try TunDevice(name: "mtun0")
            return [
                captureError { () throws(IOError) in try tun.addAddress("-6 10.0.0.1/8") },
                captureError { () throws(IOError) in try tun.addRoute(prefix: "default") },
                captureError { () throws(IOError) in try tun.setMTU(-1) },
            ]
        }
        #expect(errors.map { $0?.code } == [.invalidArgument, .invalidArgument, .invalidArgument])
    }

    @Test("an over-long interface name fails with a readable error")
    func longName() throws {
        let error = #expect(throws: IOError.self) { try TunDevice(name: "this-name-is-too-long") }
        #expect(error?.code == .tunOpen)
        #expect(error?.errno == ENAMETOOLONG)
        #expect(error?.message == "open /dev/net/tun as this-name-is-too-long: File name too long (errno \(ENAMETOOLONG))")
    }
}

/// The error `body` throws, or nil.
private func captureError(_ body: () throws(IOError) -> Void) -> IOError? {
    do { try body() } catch { return error }
    return nil
}

extension Optional {
    /// Unwraps or throws, for runtime values inside namespace bodies where `#require` is unavailable.
    func orThrow(_ what: String) throws -> Wrapped {
        guard let self else { throw TestFailure("\(what) is nil") }
        return self
    }
}
