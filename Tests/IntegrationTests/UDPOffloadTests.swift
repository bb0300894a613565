import Glibc
import CTun
import Foundation
@testable import MaelstromTun
import Testing

// UDP segmentation offload: `sendBatch` groups equal-size datagrams to one destination into
// UDP_SEGMENT sends, `receiveBatch` splits UDP_GRO runs. Whatever the kernel does with them, the
// receiver must see the same datagrams, whole and byte-identical, from the right source.

/// Which offloads the sockets of a test use.
enum OffloadMode: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case both, plain, sendOnly, receiveOnly

    var send: Bool { self == .both || self == .sendOnly }
    var receive: Bool { self == .both || self == .receiveOnly }
    var testDescription: String { rawValue }
}

/// Whether this kernel knows UDP_SEGMENT and UDP_GRO (probed on a scratch socket).
private let kernelOffload: (send: Bool, receive: Bool) = {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    return (ctun_udp_segmentation_probe(fd) == 0, ctun_udp_set_gro(fd, 1) == 0)
}()

/// A datagram to send: which destination, and its bytes (the first `headerLength` go in the header slot).
private struct PlannedDatagram: Sendable {
    let destination: Int
    let bytes: [UInt8]
    let headerLength: Int
}

/// What a receiver got, per destination: sources and bytes, in arrival order.
private struct Received: Sendable {
    var datagrams: [[(source: SocketAddress?, bytes: [UInt8])]]
    var truncated: Int
}

/// A deterministic generator (the tests must fail the same way twice).
private struct Lcg {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
}

/// Per destination: 150 of 100 bytes (runs capped at 64), 100 of 1400 and 70 of 1500 bytes (runs
/// capped by the 65,000-byte limit), and 60 of random sizes 1...1500, all interleaved at random.
/// Every datagram of 4 bytes or more starts with its destination and sequence number, so none repeats.
private func mixedDatagrams(destinations: Int, seed: UInt64) -> [PlannedDatagram] {
    var random = Lcg(state: seed)
    var sizes: [(destination: Int, size: Int)] = []
    for destination in 0..<destinations {
        sizes += Array(repeating: (destination, 100), count: 150)
        sizes += Array(repeating: (destination, 1400), count: 100)
        sizes += Array(repeating: (destination, 1500), count: 70)
        sizes += (0..<60).map { _ in (destination, random.next(1500) + 1) }
    }
    for index in sizes.indices.reversed() where index > 0 { sizes.swapAt(index, random.next(index + 1)) }
    return sizes.enumerated().map { sequence, entry in
        var bytes = (0..<entry.size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ sequence &* 13 &+ 5) }
        if entry.size >= 4 {
            bytes[0] = UInt8(entry.destination)
            bytes[1] = UInt8(sequence >> 16 & 0xFF)
            bytes[2] = UInt8(sequence >> 8 & 0xFF)
            bytes[3] = UInt8(sequence & 0xFF)
        }
        return PlannedDatagram(destination: entry.destination, bytes: bytes,
                               headerLength: random.next(min(16, entry.size) + 1))
    }
}

/// How a send went: calls that sent only part, and how many of those had already sent datagrams
/// beyond the prefix they reported (which the retry must not send again).
private struct SendStalls: Sendable {
    var interrupted = 0
    var sentBeyondPrefix = 0
}

/// Queues `planned` as header + payload pairs (payloads referenced from `store`) and sends them all,
/// waiting for writability when the socket's buffer is full.
@discardableResult
private func sendPlanned(_ planned: [PlannedDatagram], to destinations: [SocketAddress], from sender: UDPSocket,
                         batchCapacity: Int = 1024) throws -> SendStalls {
    let store = planned.flatMap { $0.bytes.dropFirst($0.headerLength) }
    let batch = OutgoingBatch(capacity: batchCapacity, headerCapacity: 16)
    var stalls = SendStalls()
    try store.withUnsafeBytes { storeBytes in
        var offset = 0
        for datagram in planned {
            let payloadLength = datagram.bytes.count - datagram.headerLength
            let payload = UnsafeRawBufferPointer(rebasing: storeBytes[offset..<offset + payloadLength])
            offset += payloadLength
            let queued = Array(datagram.bytes.prefix(datagram.headerLength)).withUnsafeBytes {
                batch.append(header: $0, payload: payload, to: destinations[datagram.destination])
            }
            guard queued else { throw TestFailure("the batch refused a datagram") }
        }
        var done = 0
        let deadline = MonotonicClock.now() + 10_000_000_000
        while done < batch.count {
            let sent = try sender.sendBatch(batch, from: done)
            done += sent
            guard done < batch.count else { break }
            stalls.interrupted += 1
            if (done..<batch.count).contains(where: { batch.sent[$0] }) { stalls.sentBeyondPrefix += 1 }
            guard MonotonicClock.now() < deadline else { throw TestFailure("sending stalled at \(done) of \(batch.count)") }
            var entry = pollfd(fd: sender.fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&entry, 1, 100)
        }
    }
    return stalls
}

/// Receives on every socket until `expected[i]` datagrams (whole or truncated) came to socket i, or 5 s passed.
private func receive(_ receivers: [UDPSocket], expected: [Int], slotSize: Int = 2048) throws -> Received {
    let loop = try EventLoop()
    for (index, receiver) in receivers.enumerated() { try loop.register(receiver.fd, token: index) }
    let batches = receivers.map { _ in DatagramBatch(capacity: 64, slotSize: slotSize) }
    var result = Received(datagrams: receivers.map { _ in [] }, truncated: 0)
    var truncatedBySocket = receivers.map { _ in 0 }
    let deadline = MonotonicClock.now() + 5_000_000_000
    while (0..<receivers.count).contains(where: { result.datagrams[$0].count + truncatedBySocket[$0] < expected[$0] }) {
        var any = false
        for (index, receiver) in receivers.enumerated() {
            let n = try receiver.receiveBatch(into: batches[index])
            truncatedBySocket[index] += batches[index].truncatedCount
            for i in 0..<n { result.datagrams[index].append((batches[index].source(at: i), Array(batches[index][i]))) }
            any = any || n > 0 || batches[index].truncatedCount > 0
        }
        if !any {
            let now = MonotonicClock.now()
            guard now < deadline else { break }
            _ = try loop.wait(timeoutNanoseconds: min(deadline - now, 100_000_000))
        }
    }
    result.truncated = truncatedBySocket.reduce(0, +)
    return result
}

/// Checks that destination i got exactly the datagrams planned for it, whole, from `source`, with
/// the order kept among datagrams of one size (the order a segmented send preserves).
private func verify(_ received: Received, planned: [PlannedDatagram], source: SocketAddress,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(received.truncated == 0, sourceLocation: sourceLocation)
    for (destination, got) in received.datagrams.enumerated() {
        let expected = planned.filter { $0.destination == destination }.map(\.bytes)
        #expect(got.count == expected.count, "destination \(destination): \(got.count) of \(expected.count) arrived",
                sourceLocation: sourceLocation)
        #expect(got.allSatisfy { $0.source == source }, "destination \(destination): a datagram from elsewhere",
                sourceLocation: sourceLocation)
        let sortedGot = got.map(\.bytes).sorted { $0.lexicographicallyPrecedes($1) }
        let sortedExpected = expected.sorted { $0.lexicographicallyPrecedes($1) }
        #expect(sortedGot == sortedExpected, "destination \(destination): the datagrams differ",
                sourceLocation: sourceLocation)
        for size in Set(expected.map(\.count)) where size >= 4 {
            let sentOrder = expected.filter { $0.count == size }
            let arrivalOrder = got.map(\.bytes).filter { $0.count == size }
            #expect(arrivalOrder == sentOrder, "destination \(destination): \(size)-byte datagrams reordered",
                    sourceLocation: sourceLocation)
        }
    }
}

/// What the sockets of an exchange counted, taken on the thread that owns them.
private struct Observed: Sendable {
    var sender: UDPSocket.Counters
    var senderSegments: Bool
    var senderSegmentCeiling: Int
    var receivers: [UDPSocket.Counters]

    init(sender: UDPSocket, receivers: [UDPSocket]) {
        self.sender = sender.counters
        senderSegments = sender.usesSegmentedSends
        senderSegmentCeiling = sender.segmentSizeCeiling
        self.receivers = receivers.map(\.counters)
    }
}

/// Checks the offload counters against the mode, where the kernel supports the offload.
private func verifyCounters(mode: OffloadMode, _ observed: Observed, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(observed.sender.sendDropped == 0, sourceLocation: sourceLocation)
    #expect(observed.sender.segmentationFallbacks == 0, sourceLocation: sourceLocation)
    // A refused segment size is the path's problem, not segmentation's: it stays on.
    #expect(observed.senderSegments == (mode.send && kernelOffload.send), sourceLocation: sourceLocation)
    if mode.send && kernelOffload.send {
        #expect(observed.sender.segmentedSends > 0, sourceLocation: sourceLocation)
    } else {
        #expect(observed.sender.segmentedSends == 0, sourceLocation: sourceLocation)
    }
    let runs = observed.receivers.reduce(0) { $0 + $1.coalescedRuns }
    if mode.send && mode.receive && kernelOffload.send && kernelOffload.receive {
        #expect(runs > 0, "no coalesced run arrived", sourceLocation: sourceLocation)
    } else if !mode.receive {
        #expect(runs == 0, sourceLocation: sourceLocation)
    }
    for receiver in observed.receivers { #expect(receiver.receiveTruncated == 0, sourceLocation: sourceLocation) }
}

@Suite("UDP segmentation offload (UDP_SEGMENT, UDP_GRO)")
struct UDPOffloadTests {
    @Test("equal and mixed-size 2-part datagrams arrive whole and in order per size over loopback",
          arguments: ["127.0.0.1", "::1"], [1, 2])
    func loopback(host: String, destinations: Int) throws {
        for mode in OffloadMode.allCases {
            let bind = try #require(SocketAddress(host.contains(":") ? "[\(host)]:0" : "\(host):0"))
            let sender = try UDPSocket(binding: bind)
            let receivers = try (0..<destinations).map { _ in try UDPSocket(binding: bind) }
            sender.setOffload(send: mode.send, receive: mode.receive)
            for receiver in receivers { receiver.setOffload(send: mode.send, receive: mode.receive) }
            #expect(receivers.allSatisfy { $0.usesCoalescedReceives == (mode.receive && kernelOffload.receive) })

            let planned = mixedDatagrams(destinations: destinations, seed: 42)
            try sendPlanned(planned, to: receivers.map(\.localAddress), from: sender)
            let expected = (0..<destinations).map { d in planned.count(where: { $0.destination == d }) }
            let received = try receive(receivers, expected: expected)
            verify(received, planned: planned, source: sender.localAddress)
            verifyCounters(mode: mode, Observed(sender: sender, receivers: receivers))
            #expect(sender.counters.sent == UInt64(planned.count), "mode \(mode)")
        }
    }

    @Test("equal and mixed-size 2-part datagrams arrive whole over a veth pair between namespaces",
          needsTun, arguments: OffloadMode.allCases, [1, 2])
    func veth(mode: OffloadMode, destinations: Int) async throws {
        let pair = try VethPair()
        defer { pair.delete() }
        var planned = mixedDatagrams(destinations: destinations, seed: 7)
        // Larger than the veth's 1500-byte MTU: segmentation refuses them (EMSGSIZE), plain sends
        // fragment them.
        planned += (0..<10).map { index in
            PlannedDatagram(destination: 0, bytes: [0xFF, 0xFF, 0xFF, UInt8(index)] + (0..<2996).map { UInt8(truncatingIfNeeded: $0) },
                            headerLength: 8)
        }
        let planInNamespace = planned
        // Expectations are checked here, on the test's task, with what the namespace thread saw.
        let (received, observed, source) = try await pair.run { () throws -> (Received, Observed, SocketAddress) in
            let (sender, receivers) = try pair.sockets(destinations: destinations)
            sender.setOffload(send: mode.send, receive: mode.receive)
            for receiver in receivers { receiver.setOffload(send: mode.send, receive: mode.receive) }
            try pair.resolveNeighbours(sender: sender, receivers: receivers)
            try sendPlanned(planInNamespace, to: receivers.map(\.localAddress), from: sender)
            let expected = (0..<destinations).map { d in planInNamespace.count(where: { $0.destination == d }) }
            let received = try receive(receivers, expected: expected, slotSize: 4096)
            return (received, Observed(sender: sender, receivers: receivers), sender.localAddress)
        }
        verify(received, planned: planned, source: source)
        verifyCounters(mode: mode, observed)
        #expect(observed.sender.sent == UInt64(planned.count))
        if mode.send && kernelOffload.send {
            // Runs of datagrams too big for the 1500-byte MTU (1500 + 28 header bytes, 3000) were refused
            // with EMSGSIZE and went out plain, fragmented; 1472 bytes and less still segment.
            #expect(observed.senderSegmentCeiling > 1472 && observed.senderSegmentCeiling <= 1500)
        }
    }

    @Test("a send interrupted by a full socket buffer resumes without sending anything twice", needsTun)
    func resumeWithoutDuplicates() async throws {
        let pair = try VethPair()
        defer { pair.delete() }
        // A slow egress holds the sender's datagrams, so its small send buffer fills mid-batch.
        try runCommand(ipPath!, ["netns", "exec", pair.sendingNamespace.name, "tc", "qdisc", "replace", "dev",
                                 pair.sendingInterface, "root", "tbf", "rate", "20mbit", "burst", "32kb", "latency", "2s"])
        // Alternating destinations and sizes: two groups that interleave, so when the second group's
        // run meets the full buffer, the first group's later datagrams are already out.
        let planned = (0..<400).map { index in
            PlannedDatagram(destination: index % 2,
                            bytes: [UInt8(index % 2), UInt8(index >> 8), UInt8(index & 0xFF)]
                                + Array(repeating: UInt8(index & 0xFF), count: index % 2 == 0 ? 497 : 697),
                            headerLength: 3)
        }
        let (received, observed, source, stalls) = try await pair.run { () throws -> (Received, Observed, SocketAddress, SendStalls) in
            let (_, receivers) = try pair.sockets(destinations: 2)
            let sender = try UDPSocket(binding: try SocketAddress("\(pair.sendingAddress):0").orThrow("bind"),
                                       bufferBytes: 4096)
            try pair.resolveNeighbours(sender: sender, receivers: receivers)
            let stalls = try sendPlanned(planned, to: receivers.map(\.localAddress), from: sender, batchCapacity: 512)
            let received = try receive(receivers, expected: [200, 200])
            return (received, Observed(sender: sender, receivers: receivers), sender.localAddress, stalls)
        }
        verify(received, planned: planned, source: source)
        #expect(observed.sender.sent == 400, "datagrams were sent twice")
        #expect(observed.sender.sendDropped == 0)
        #expect(stalls.interrupted > 0, "the socket buffer never filled, so resuming was not exercised")
        if kernelOffload.send {
            #expect(stalls.sentBeyondPrefix > 0, "no send stopped with later datagrams already out")
        }
    }

    @Test("a coalesced run is split into its datagrams, the last one shorter", arguments: [2048, 65536])
    func coalescedRunSplit(slotSize: Int) throws {
        let receiver = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        let sender = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        try #require(kernelOffload.send, "the kernel lacks UDP_SEGMENT")
        let payload = (0..<(10 * 500 + 123)).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ $0 >> 8) }
        let sent = try sendRaw(payload, segmentSize: 500, from: sender, to: receiver.localAddress)
        #expect(sent == 1)

        let batch = DatagramBatch(capacity: 4, slotSize: slotSize)
        let received = try receiveOnce(receiver, into: batch)
        #expect(received == 11)
        #expect((0..<batch.count).map { batch[$0].count } == Array(repeating: 500, count: 10) + [123])
        #expect((0..<batch.count).flatMap { Array(batch[$0]) } == payload)
        #expect((0..<batch.count).allSatisfy { batch.source(at: $0) == sender.localAddress })
        if kernelOffload.receive {
            #expect(receiver.counters.coalescedRuns == 1)
            #expect(receiver.counters.coalescedDatagrams == 11)
        }
    }

    @Test("a coalescing receive asks for about `capacity` datagrams' worth of runs")
    func coalescingReceiveSizesItself() throws {
        let receiver = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        let sender = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        try #require(kernelOffload.send && kernelOffload.receive, "the kernel lacks UDP_SEGMENT or UDP_GRO")
        let payload = [UInt8](repeating: 0x42, count: 40 * 100)
        let batch = DatagramBatch(capacity: 64, slotSize: 2048)
        for _ in 0..<5 { #expect(try sendRaw(payload, segmentSize: 100, from: sender, to: receiver.localAddress) == 1) }
        // The first receive does not know the run length yet: it takes all five runs.
        #expect(try receiveOnce(receiver, into: batch) == 200)
        #expect(batch.coalescingSlotsWanted == 2)
        // Then two runs of 40 make the 64 the data plane counts on (one 64 KiB slot each).
        for _ in 0..<5 { #expect(try sendRaw(payload, segmentSize: 100, from: sender, to: receiver.localAddress) == 1) }
        #expect(try receiveOnce(receiver, into: batch) == 80)
        #expect(try receiveOnce(receiver, into: batch) == 80)
        #expect(try receiveOnce(receiver, into: batch) == 40)
        #expect(receiver.counters.coalescedRuns == 10)
    }

    @Test("datagrams of a run larger than the batch's slot size are dropped and counted")
    func coalescedRunTruncation() throws {
        let receiver = try UDPSocket(binding: try #require(SocketAddress("[::1]:0")))
        let sender = try UDPSocket(binding: try #require(SocketAddress("[::1]:0")))
        try #require(kernelOffload.send, "the kernel lacks UDP_SEGMENT")
        let payload = (0..<(6 * 500 + 100)).map { UInt8(truncatingIfNeeded: $0) }
        #expect(try sendRaw(payload, segmentSize: 500, from: sender, to: receiver.localAddress) == 1)
        let batch = DatagramBatch(capacity: 4, slotSize: 400)
        #expect(try receiveOnce(receiver, into: batch) == 1)
        #expect(batch.truncatedCount == 6)
        #expect(receiver.counters.receiveTruncated == 6)
        #expect(Array(batch[0]) == Array(payload[3000...]))
    }

    @Test("grouping cuts runs at 64 datagrams and 65,000 bytes and keeps the order within a group")
    func groupingPlan() throws {
        let x = try #require(SocketAddress("10.0.0.1:4500"))
        let y = try #require(SocketAddress("[2001:db8::1]:4500"))
        let store = [UInt8](repeating: 0xEE, count: 40_000)
        let batch = OutgoingBatch(capacity: 1024, headerCapacity: 0)
        var destinations: [SocketAddress] = []
        var lengths: [Int] = []
        try store.withUnsafeBytes { bytes in
            func add(_ length: Int, _ destination: SocketAddress) throws {
                guard batch.append(header: UnsafeRawBufferPointer(start: nil, count: 0),
                                   payload: UnsafeRawBufferPointer(rebasing: bytes[0..<length]), to: destination)
                else { throw TestFailure("batch full") }
                destinations.append(destination)
                lengths.append(length)
            }
            for index in 0..<150 {
                try add(100, x)
                if index < 100 { try add(1500, y) }
            }
            for _ in 0..<5 { try add(40_000, x) }
            for _ in 0..<3 { try add(1, x) }
            for _ in 0..<2 { try add(100, y) }
            try add(0, x)
        }
        batch.beginSend(from: 0, to: batch.count)
        let wireCount = batch.planWire(from: 0, to: batch.count, segmenting: true, maxSegmentSize: 65535)
        let runs = (0..<wireCount).map { wire in
            (segment: Int(batch.wire[wire].segment_size),
             members: batch.memberRange(ofWire: wire).map { Int(batch.wireMembers[$0]) })
        }
        // 100-byte runs overtake the 1500-byte datagrams; 1500-byte runs stop at the first 100-byte
        // datagram still waiting; the 40,000-byte ones go alone; the 1-byte run stops at the empty one.
        #expect(runs.map(\.members.count) == [64, 43, 21, 64, 36, 22, 1, 1, 1, 1, 1, 3, 2, 1])
        #expect(runs.map(\.segment) == [100, 1500, 1500, 100, 1500, 100, 0, 0, 0, 0, 0, 1, 100, 0])
        expectNoOvertaking(runs.flatMap(\.members), lengths: lengths)
        // Every message exactly once, each run to one destination, in batch order within its group.
        #expect(runs.flatMap(\.members).sorted() == Array(0..<batch.count))
        for (wire, run) in runs.enumerated() {
            #expect(Set(run.members.map { destinations[$0] }).count == 1)
            #expect(run.members == run.members.sorted())
            #expect(Int(batch.wire[wire].addr_index) == run.members[0])
        }
        // Without segmentation: one plain datagram each, in batch order.
        let plainCount = batch.planWire(from: 0, to: batch.count, segmenting: false, maxSegmentSize: 65535)
        #expect(plainCount == batch.count)
        #expect((0..<plainCount).allSatisfy { batch.wire[$0].segment_size == 0 && batch.firstMember(ofWire: $0) == $0 })
    }

    @Test("repairs queued before data frames stay behind them: no datagram overtakes a shorter one")
    func noLongerBeforeShorter() throws {
        let peer = try #require(SocketAddress("10.0.0.1:4500"))
        let store = [UInt8](repeating: 0, count: 2000)
        let batch = OutgoingBatch(capacity: 256, headerCapacity: 0)
        // As the encoder queues them: repairs of full bins (1418 bytes) ahead of the next data frame (1412).
        let lengths = [1418, 1418, 1412, 1412, 1412, 1418, 1412, 1412, 1412, 1412, 1418]
        store.withUnsafeBytes { bytes in
            for length in lengths {
                batch.append(header: UnsafeRawBufferPointer(start: nil, count: 0),
                             payload: UnsafeRawBufferPointer(rebasing: bytes[0..<length]), to: peer)
            }
        }
        batch.beginSend(from: 0, to: batch.count)
        var order = plannedOrder(batch)
        #expect(order == [0, 1, 2, 3, 4, 6, 7, 8, 9, 5, 10])

        // Random sizes from a few values, to two destinations: the rule holds for any mix.
        var random = Lcg(state: 99)
        let other = try #require(SocketAddress("10.0.0.2:4500"))
        var mixed: [Int] = []
        batch.removeAll()
        store.withUnsafeBytes { bytes in
            for _ in 0..<256 {
                let length = [40, 64, 70, 1412, 1418][random.next(5)]
                mixed.append(length)
                batch.append(header: UnsafeRawBufferPointer(start: nil, count: 0),
                             payload: UnsafeRawBufferPointer(rebasing: bytes[0..<length]), to: random.next(2) == 0 ? peer : other)
            }
        }
        batch.beginSend(from: 0, to: batch.count)
        order = plannedOrder(batch)
        #expect(order.sorted() == Array(0..<256))
        expectNoOvertaking(order, lengths: mixed)
    }

    @Test("a destination the kernel rejects is dropped without turning segmentation off")
    func rejectedDestinationKeepsSegmentation() throws {
        let receiver = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        let sender = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        try #require(kernelOffload.send, "the kernel lacks UDP_SEGMENT")
        // Port 0 is refused with EINVAL, as segmentation the kernel cannot do would be.
        let invalid = try #require(SocketAddress("127.0.0.1:0"))
        let payload = [UInt8](repeating: 0x5A, count: 50)
        let batch = OutgoingBatch(capacity: 16, headerCapacity: 0)
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        let sent = try payload.withUnsafeBytes { bytes in
            for index in 0..<6 { batch.append(header: none, payload: bytes, to: index % 2 == 0 ? invalid : receiver.localAddress) }
            return try sender.sendBatch(batch)
        }
        #expect(sent == 6)
        #expect(sender.counters.sendDropped == 3)
        #expect(sender.counters.lastSendErrno == EINVAL)
        #expect(sender.usesSegmentedSends)
        #expect(sender.counters.segmentationFallbacks == 0)
        let received = try receive([receiver], expected: [3])
        #expect(received.datagrams[0].map(\.bytes) == Array(repeating: payload, count: 3))

        // The next batch is segmented again.
        batch.removeAll()
        let before = sender.counters.segmentedSends
        _ = try payload.withUnsafeBytes { bytes in
            for _ in 0..<5 { batch.append(header: none, payload: bytes, to: receiver.localAddress) }
            return try sender.sendBatch(batch)
        }
        #expect(sender.counters.segmentedSends == before + 1)
        #expect(try receive([receiver], expected: [5]).datagrams[0].count == 5)
    }
}

/// The message indices of a segmenting plan of the whole batch, in send order.
private func plannedOrder(_ batch: OutgoingBatch) -> [Int] {
    let wireCount = batch.planWire(from: 0, to: batch.count, segmenting: true, maxSegmentSize: 65535)
    return (0..<wireCount).flatMap { wire in batch.memberRange(ofWire: wire).map { Int(batch.wireMembers[$0]) } }
}

/// Expects that no message in `order` comes before a shorter message queued ahead of it.
private func expectNoOvertaking(_ order: [Int], lengths: [Int], sourceLocation: SourceLocation = #_sourceLocation) {
    var position = [Int](repeating: 0, count: lengths.count)
    for (rank, message) in order.enumerated() { position[message] = rank }
    var violations = 0
    for later in lengths.indices {
        for earlier in 0..<later where lengths[later] > lengths[earlier] && position[later] < position[earlier] {
            violations += 1
        }
    }
    #expect(violations == 0, "\(violations) datagrams overtook a shorter one", sourceLocation: sourceLocation)
}

/// Sends `payload` as one UDP_SEGMENT message of `segmentSize`-byte datagrams (the last may be shorter).
private func sendRaw(_ payload: [UInt8], segmentSize: Int, from sender: UDPSocket, to destination: SocketAddress) throws -> Int32 {
    let headers = UnsafeMutableRawPointer.allocate(byteCount: ctun_mmsghdr_size(), alignment: 16)
    let controls = UnsafeMutableRawPointer.allocate(byteCount: ctun_segment_cmsg_space(), alignment: 16)
    defer {
        headers.deallocate()
        controls.deallocate()
    }
    var address = sockaddr_storage()
    var length = UInt32(destination.write(to: &address))
    var message = ctun_wire_message(iov_index: 0, iov_count: 1, addr_index: 0, segment_size: UInt16(segmentSize), reserved: 0)
    return payload.withUnsafeBytes { bytes in
        var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        return ctun_sendmmsg_segmented(sender.fd, headers, controls, &vector, &address, &length, &message, 1)
    }
}

/// One receive after the socket became readable (or 3 s passed).
private func receiveOnce(_ receiver: UDPSocket, into batch: DatagramBatch) throws -> Int {
    let loop = try EventLoop()
    try loop.register(receiver.fd, token: 1)
    _ = try waitReadable(loop, token: 1, deadline: MonotonicClock.now() + 3_000_000_000)
    return try receiver.receiveBatch(into: batch)
}

/// Two namespaces joined by a veth pair: the sender's side has 10.201.0.1, the receiving side
/// 10.201.0.2 and 10.201.0.3 (two destinations). Interface names carry a random suffix.
private struct VethPair: Sendable {
    let sendingNamespace: TestNamespace
    let receivingNamespace: TestNamespace
    let sendingInterface: String
    let sendingAddress = "10.201.0.1"
    let receivingAddresses = ["10.201.0.2", "10.201.0.3"]

    init() throws {
        sendingNamespace = try TestNamespace()
        do {
            receivingNamespace = try TestNamespace()
        } catch {
            sendingNamespace.delete()
            throw error
        }
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        sendingInterface = "vgso\(suffix)"
        let receivingInterface = "vgsr\(suffix)"
        let a = sendingNamespace.name
        let b = receivingNamespace.name
        do {
            try runIP(["-n", a, "link", "add", sendingInterface, "type", "veth", "peer", "name", receivingInterface, "netns", b])
            try runIP(["-n", a, "addr", "add", "\(sendingAddress)/24", "dev", sendingInterface])
            for address in receivingAddresses { try runIP(["-n", b, "addr", "add", "\(address)/24", "dev", receivingInterface]) }
            for (namespace, interface) in [(a, sendingInterface), (b, receivingInterface)] {
                try runIP(["-n", namespace, "link", "set", interface, "up"])
                try runIP(["-n", namespace, "link", "set", "lo", "up"])
            }
        } catch {
            delete()
            throw error
        }
    }

    func delete() {
        sendingNamespace.delete()
        receivingNamespace.delete()
    }

    /// Runs `body` on a thread inside the sending namespace.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await sendingNamespace.run(body)
    }

    /// On the calling thread (inside the sending namespace): receivers bound in the receiving
    /// namespace, one per destination, and a sender bound here.
    func sockets(destinations: Int) throws -> (sender: UDPSocket, receivers: [UDPSocket]) {
        try enter(receivingNamespace)
        let receivers: [UDPSocket]
        do {
            receivers = try receivingAddresses.prefix(destinations).map {
                try UDPSocket(binding: try SocketAddress("\($0):0").orThrow("receiver address"))
            }
        } catch {
            try enter(sendingNamespace)
            throw error
        }
        try enter(sendingNamespace)
        let sender = try UDPSocket(binding: try SocketAddress("\(sendingAddress):0").orThrow("sender address"))
        return (sender, receivers)
    }

    /// Sends one datagram to each receiver and waits for it, so ARP is resolved before the burst
    /// (the kernel queues only a few packets for an unresolved neighbour).
    func resolveNeighbours(sender: UDPSocket, receivers: [UDPSocket]) throws {
        let batch = OutgoingBatch(capacity: 4, headerCapacity: 0)
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        for receiver in receivers { batch.append(header: none, payload: none, to: receiver.localAddress) }
        guard try sender.sendBatch(batch) == receivers.count else { throw TestFailure("warm-up send failed") }
        let got = try receive(receivers, expected: receivers.map { _ in 1 })
        guard got.datagrams.allSatisfy({ $0.count == 1 }) else { throw TestFailure("warm-up datagrams lost") }
        // Forget the warm-up in the counters the tests check.
        sender.resetCounters()
        for receiver in receivers { receiver.resetCounters() }
    }

    private func enter(_ namespace: TestNamespace) throws {
        let rc = ctun_enter_netns("/var/run/netns/\(namespace.name)")
        guard rc == 0 else { throw IOError(.namespace, errno: -rc, operation: "setns \(namespace.name)") }
    }
}
