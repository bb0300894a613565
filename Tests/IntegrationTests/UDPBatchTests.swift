import Foundation
import MaelstromTun
import Testing

/// Receives until `expected` datagrams (whole or truncated) arrived or 5 s passed; returns copies.
private func receiveAll(_ socket: UDPSocket, into batch: DatagramBatch, expected: Int) throws
    -> (datagrams: [(source: SocketAddress?, bytes: [UInt8])], truncated: Int) {
    let loop = try EventLoop()
    try loop.register(socket.fd, token: 1)
    let deadline = MonotonicClock.now() + 5_000_000_000
    var datagrams: [(source: SocketAddress?, bytes: [UInt8])] = []
    var truncated = 0
    while datagrams.count + truncated < expected {
        let n = try socket.receiveBatch(into: batch)
        truncated += batch.truncatedCount
        for i in 0..<n { datagrams.append((batch.source(at: i), Array(batch[i]))) }
        if n == 0 && batch.truncatedCount == 0 {
            guard try waitReadable(loop, token: 1, deadline: deadline) else { break }
        }
    }
    return (datagrams, truncated)
}

/// Sends everything in `batch`, waiting for writability if the socket buffer fills.
private func sendAll(_ socket: UDPSocket, _ batch: OutgoingBatch) throws -> Int {
    let loop = try EventLoop()
    try loop.register(socket.fd, token: 1, interest: .writable)
    var done = 0
    let deadline = MonotonicClock.now() + 5_000_000_000
    while done < batch.count {
        done += try socket.sendBatch(batch, from: done)
        if done < batch.count {
            guard try waitReadable(loop, token: 1, deadline: deadline) else { break }
        }
    }
    return done
}

@Suite("UDP batches over loopback")
struct UDPBatchTests {
    static let loopbacks = ["127.0.0.1:0", "[::1]:0"]

    @Test("sendBatch with 2-part iovecs delivers 100 datagrams of 1...9000 bytes intact", arguments: loopbacks)
    func hundredDatagrams(bindText: String) throws {
        let bind = try #require(SocketAddress(bindText))
        let receiver = try UDPSocket(binding: bind)
        let sender = try UDPSocket(binding: bind)

        // Deterministic sizes covering both ends of the range; the header is the first few bytes,
        // the payload the rest, taken from a separate buffer as data frames are.
        var sizes = [1, 9000]
        var seed: UInt32 = 12345
        while sizes.count < 100 {
            seed = seed &* 1_103_515_245 &+ 12345
            sizes.append(Int(seed >> 8) % 9000 + 1)
        }
        let expected: [[UInt8]] = sizes.enumerated().map { index, size in
            (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index &* 7 &+ 1) }
        }
        let headerLength = 6
        let payloadStore: [UInt8] = expected.flatMap { Array($0.dropFirst(min(headerLength, $0.count))) }

        let batch = OutgoingBatch(capacity: 128, headerCapacity: 16)
        let sent = try payloadStore.withUnsafeBytes { store -> Int in
            var offset = 0
            for datagram in expected {
                let header = Array(datagram.prefix(headerLength))
                let payloadLength = datagram.count - header.count
                let payload = UnsafeRawBufferPointer(rebasing: store[offset..<offset + payloadLength])
                offset += payloadLength
                let queued = header.withUnsafeBytes { batch.append(header: $0, payload: payload, to: receiver.localAddress) }
                #expect(queued)
            }
            #expect(batch.count == 100)
            return try sendAll(sender, batch)
        }
        #expect(sent == 100)
        #expect(sender.counters.sent == 100)
        #expect(sender.counters.sendDropped == 0)

        let received = try receiveAll(receiver, into: DatagramBatch(capacity: 64, slotSize: 65536), expected: 100)
        #expect(received.truncated == 0)
        try #require(received.datagrams.count == 100)
        // Equal-size datagrams to one destination go out together as one segmented send, so only the
        // order within a size is kept; every datagram is distinct, so content identifies it.
        let indexByContent = Dictionary(expected.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var lastIndexBySize: [Int: Int] = [:]
        var seen = Set<Int>()
        for datagram in received.datagrams {
            #expect(datagram.source == sender.localAddress)
            guard let index = indexByContent[datagram.bytes] else {
                Issue.record("a datagram of \(datagram.bytes.count) bytes matches none sent")
                continue
            }
            #expect(seen.insert(index).inserted, "datagram \(index) arrived twice")
            #expect((lastIndexBySize[datagram.bytes.count] ?? -1) < index, "datagram \(index) overtook one of its size")
            lastIndexBySize[datagram.bytes.count] = index
        }
        #expect(seen.count == 100)
    }

    @Test("a datagram larger than the slot is reported truncated and not passed on", arguments: loopbacks)
    func truncation(bindText: String) throws {
        let bind = try #require(SocketAddress(bindText))
        let receiver = try UDPSocket(binding: bind)
        let sender = try UDPSocket(binding: bind)
        let sizes = [100, 1000, 200]
        let batch = OutgoingBatch(capacity: 4, headerCapacity: 0)
        let payloads = sizes.map { [UInt8](repeating: UInt8($0 & 0xFF), count: $0) }
        let sent = try payloads[0].withUnsafeBytes { p0 in
            try payloads[1].withUnsafeBytes { p1 in
                try payloads[2].withUnsafeBytes { p2 in
                    for payload in [p0, p1, p2] {
                        batch.append(header: UnsafeRawBufferPointer(start: nil, count: 0), payload: payload,
                                     to: receiver.localAddress)
                    }
                    return try sendAll(sender, batch)
                }
            }
        }
        #expect(sent == 3)

        let received = try receiveAll(receiver, into: DatagramBatch(capacity: 8, slotSize: 512), expected: 3)
        #expect(received.truncated == 1)
        #expect(receiver.counters.receiveTruncated == 1)
        #expect(received.datagrams.map(\.bytes) == [payloads[0], payloads[2]])
    }

    @Test("binding reports the chosen port and sizes the buffers")
    func bindAndBuffers() throws {
        let socket = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")), bufferBytes: 8 << 20)
        #expect(socket.localAddress.port != 0)
        #expect(socket.localAddress.description.hasPrefix("127.0.0.1:"))
        // Root forces past net.core.rmem_max; the kernel reports double the request.
        if geteuid() == 0 { #expect(socket.receiveBufferBytes >= 8 << 20) }
        #expect(socket.sendBufferBytes > 0)
    }

    @Test("binding an address in use fails with EADDRINUSE and a readable message")
    func bindConflict() throws {
        let first = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        let error = #expect(throws: IOError.self) { try UDPSocket(binding: first.localAddress) }
        #expect(error?.code == .bind)
        #expect(error?.errno == EADDRINUSE)
        #expect(error?.message == "bind \(first.localAddress): Address already in use (errno \(EADDRINUSE))")
    }
}
