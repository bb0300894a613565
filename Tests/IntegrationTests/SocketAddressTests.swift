import CTun
import Foundation
import MaelstromTun
import Testing

@Suite("SocketAddress")
struct SocketAddressTests {
    @Test("parses and prints IPv4 and IPv6 text", arguments: ["1.2.3.4:4500", "[::1]:4500", "[2001:db8::7]:0",
                                                              "[fe80::1%2]:9", "0.0.0.0:65535"])
    func roundTrip(text: String) throws {
        let address = try #require(SocketAddress(text))
        #expect(address.description == text)
    }

    @Test("rejects malformed text", arguments: ["", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:+1",
                                                "1.2.3.4: 1", "300.1.1.1:1", "::1:80", "[::1]", "[::1]80",
                                                "[::1]:", "[1.2.3.4]:80", "[fe80::1%x]:1", "host:80"])
    func rejects(text: String) {
        #expect(SocketAddress(text) == nil)
    }

    @Test("exposes raw bytes and port for conversion to the core's endpoint type")
    func rawBytes() throws {
        let v4 = try #require(SocketAddress("10.1.2.3:4500"))
        #expect(v4.family == .ipv4)
        #expect(v4.addressBytes == [10, 1, 2, 3])
        #expect(v4.port == 4500)
        let v6 = try #require(SocketAddress("[::1]:53"))
        #expect(v6.addressBytes == [UInt8](repeating: 0, count: 15) + [1])
        #expect(SocketAddress(addressBytes: v6.addressBytes, port: 53) == v6)
        #expect(SocketAddress(addressBytes: [1, 2, 3], port: 1) == nil)
    }

    @Test("converts to and from sockaddr_storage", arguments: ["192.0.2.1:1234", "[2001:db8::1%3]:5678"])
    func sockaddr(text: String) throws {
        let address = try #require(SocketAddress(text))
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        let expectedLength = address.family == .ipv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
        #expect(Int(length) == expectedLength)
        #expect(SocketAddress(storage: &storage) == address)
    }

    @Test("MonotonicClock advances")
    func clock() {
        let a = MonotonicClock.now()
        usleep(2_000)
        let b = MonotonicClock.now()
        #expect(b - a >= 1_000_000)
    }
}
