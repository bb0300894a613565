import Foundation
import MaelstromTun
import Synchronization
import Testing

@Suite("IOThread")
struct IOThreadTests {
    @Test("a named thread takes over non-Sendable I/O objects, serves them, and joins")
    func handOverAndJoin() throws {
        let receiver = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        let target = receiver.localAddress
        let loop = try EventLoop()
        let stop = try loop.makeWakeup(token: 0)
        try loop.register(receiver.fd, token: 1)
        let received = Atomic<Int>(0)
        let threadName = Mutex("")

        // The socket and loop are `sending`-transferred: from here on only the I/O thread touches them.
        let thread = try IOThread(name: "io-test-thread-long-name") {
            threadName.withLock { $0 = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "" }
            let batch = DatagramBatch(capacity: 8, slotSize: 2048)
            while true {
                guard let events = try? loop.wait(timeoutNanoseconds: 5_000_000_000), !events.isEmpty else { return }
                if events.contains(where: { $0.token == 0 }) { return }
                while let n = try? receiver.receiveBatch(into: batch), n > 0 {
                    received.add(n, ordering: .relaxed)
                }
            }
        }

        let sender = try UDPSocket(binding: try #require(SocketAddress("127.0.0.1:0")))
        let batch = OutgoingBatch(capacity: 10)
        let payload: [UInt8] = [42]
        let sent = try payload.withUnsafeBytes { bytes in
            for _ in 0..<10 { batch.append(header: UnsafeRawBufferPointer(start: nil, count: 0), payload: bytes, to: target) }
            return try sender.sendBatch(batch)
        }
        #expect(sent == 10)
        let deadline = MonotonicClock.now() + 5_000_000_000
        while received.load(ordering: .relaxed) < 10 && MonotonicClock.now() < deadline { usleep(1_000) }
        stop.signal()
        thread.join()
        thread.join()  // a second join is harmless

        #expect(received.load(ordering: .relaxed) == 10)
        // The kernel keeps 15 bytes of a thread name.
        #expect(threadName.withLock { $0 } == "io-test-thread-\n")
    }
}
