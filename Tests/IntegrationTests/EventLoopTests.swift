import Foundation
import MaelstromTun
import Testing

@Suite("EventLoop")
struct EventLoopTests {
    @Test("a Wakeup signalled from another thread ends a wait long before its timeout")
    func wakeupInterruptsWait() throws {
        let loop = try EventLoop()
        let wakeup = try loop.makeWakeup(token: 99)
        let signaller = try IOThread(name: "wakeup-test") {
            usleep(50_000)
            wakeup.signal()
        }
        defer { signaller.join() }

        let start = MonotonicClock.now()
        let events = try loop.wait(timeoutNanoseconds: 10_000_000_000)
        let elapsed = MonotonicClock.now() - start
        #expect(events.map(\.token) == [99])
        #expect(elapsed < 2_000_000_000, "waited \(elapsed) ns")
        #expect(elapsed >= 40_000_000, "woke after \(elapsed) ns, before the signal")

        // The loop drained the eventfd, so a level-triggered wait does not report it again.
        #expect(try loop.wait(timeoutNanoseconds: 0).isEmpty)
        #expect(try loop.makeWakeup(token: 99) === wakeup)
        #expect(throws: IOError.self) { try loop.makeWakeup(token: 5) }
    }

    @Test("a readable UDP socket is reported with its token")
    func readableSocket() throws {
        let address = try #require(SocketAddress("127.0.0.1:0"))
        let receiver = try UDPSocket(binding: address)
        let sender = try UDPSocket(binding: address)
        let loop = try EventLoop()
        try loop.register(receiver.fd, token: 7)
        try loop.register(sender.fd, token: 8)  // never readable here

        #expect(try loop.wait(timeoutNanoseconds: 0).isEmpty)

        let batch = OutgoingBatch(capacity: 1)
        let payload: [UInt8] = [1, 2, 3]
        let sent = try payload.withUnsafeBytes {
            batch.append(header: UnsafeRawBufferPointer(start: nil, count: 0), payload: $0, to: receiver.localAddress)
            return try sender.sendBatch(batch)
        }
        #expect(sent == 1)

        let events = try loop.wait(timeoutNanoseconds: 1_000_000_000)
        #expect(events.count == 1)
        #expect(events.first?.token == 7)
        #expect(events.first?.isReadable == true)

        let received = DatagramBatch(capacity: 4, slotSize: 64)
        #expect(try receiver.receiveBatch(into: received) == 1)
        #expect(Array(received[0]) == payload)
        try loop.unregister(receiver.fd)
    }

    @Test("a wait with nothing ready returns empty after its timeout")
    func timeout() throws {
        let loop = try EventLoop()
        let start = MonotonicClock.now()
        let events = try loop.wait(timeoutNanoseconds: 20_000_000)
        let elapsed = MonotonicClock.now() - start
        #expect(events.isEmpty)
        #expect(elapsed >= 19_000_000)
        #expect(elapsed < 1_000_000_000)
    }

    @Test("registering a closed descriptor fails with EBADF")
    func badDescriptor() throws {
        let loop = try EventLoop()
        let error = #expect(throws: IOError.self) { try loop.register(-1, token: 1) }
        #expect(error?.code == .eventLoop)
        #expect(error?.errno == EBADF)
    }
}
