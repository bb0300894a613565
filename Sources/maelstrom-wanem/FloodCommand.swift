import ArgumentParser
import CTun
import Foundation
import Glibc
import MaelstromCore

/// `maelstrom-wanem flood`: UDP datagrams at a gateway as fast as the kernel takes them, for the
/// bed's flood tests: from this namespace's own address (a stranger) and, through a raw socket,
/// with a forged source (the peer gateway's address and port): random bytes and datagrams that
/// begin like Maelstrom frames. Batched with sendmmsg from a pool made before the clock starts,
/// so one core sends several hundred thousand a second (Python managed 60,000).
struct FloodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flood",
        abstract: "Send UDP datagrams at ADDR:PORT as fast as possible (or at --rate), some with a forged source.",
        discussion: """
            Prints one JSON line at the end: datagrams sent from this host's address (stranger), sent \
            with the forged source (forged), the seconds it ran and the send calls that failed. IPv4 only; \
            the forged half needs CAP_NET_RAW.
            """)

    @Option(help: "Where the datagrams go (IPv4 ADDR:PORT).")
    var to: String

    @Option(name: .customLong("forge-source"), help: "Also send datagrams with this source (IPv4 ADDR:PORT), through a raw socket.")
    var forgeSource: String?

    @Option(help: "How long to send, in seconds.")
    var seconds: Double = 10

    @Option(help: "Datagrams per second in all; 0 sends as fast as the kernel takes them.")
    var rate: Double = 0

    @Option(help: "Seed of the datagrams' sizes and bytes.")
    var seed: UInt64 = 1

    private static let batch = 64
    /// A whole number of batches.
    private static let poolSize = 512

    func validate() throws {
        guard Endpoint(to)?.address.isIPv4 == true else { throw ValidationError("--to must be an IPv4 ADDR:PORT, got \(to)") }
        if let forgeSource, Endpoint(forgeSource)?.address.isIPv4 != true {
            throw ValidationError("--forge-source must be an IPv4 ADDR:PORT, got \(forgeSource)")
        }
        guard seconds > 0 && seconds <= 3600 else { throw ValidationError("--seconds must be in (0, 3600], got \(seconds)") }
        guard rate >= 0 && rate <= 100_000_000 else { throw ValidationError("--rate must be in [0, 100000000], got \(rate)") }
    }

    func run() throws {
        let target = Endpoint(to)!
        var random = SplitMix64(seed: seed)
        let stranger = try Flow(kind: .stranger, target: target, forged: nil, random: &random)
        let forged = try forgeSource.map { try Flow(kind: .forged, target: target, forged: Endpoint($0)!, random: &random) }
        let flows = [stranger] + (forged.map { [$0] } ?? [])
        let start = MonotonicNow.seconds()
        var due = start
        var round = 0
        while MonotonicNow.seconds() - start < seconds {
            for flow in flows { flow.sendBatch(round: round) }
            round &+= 1
            if rate > 0 {
                due += Double(Self.batch * flows.count) / rate
                let wait = due - MonotonicNow.seconds()
                if wait > 0 { usleep(UInt32(min(wait, 1) * 1e6)) }
            }
        }
        let elapsed = MonotonicNow.seconds() - start
        let errors = flows.reduce(0) { $0 + $1.failedCalls }
        print("{\"stranger\":\(stranger.sent),\"forged\":\(forged?.sent ?? 0),\"seconds\":\(String(format: "%.3f", elapsed)),\"failed_calls\":\(errors)}")
    }

    /// One socket and its pool of datagrams, sent round-robin in batches. The pool lies in one
    /// buffer with an iovec for each datagram made up front, so a batch is one call and no Swift
    /// work per datagram (a debug build sent a third of what Python did before).
    private final class Flow {
        enum Kind { case stranger, forged }
        let fd: Int32
        var sent = 0
        var failedCalls = 0
        private let pool: UnsafeMutableRawBufferPointer
        private let scratch: UnsafeMutableRawPointer
        private let iovs: UnsafeMutablePointer<iovec>
        private let addresses: UnsafeMutablePointer<sockaddr_storage>
        private let lengths: UnsafeMutablePointer<UInt32>

        init(kind: Kind, target: Endpoint, forged: Endpoint?, random: inout SplitMix64) throws {
            fd = kind == .stranger ? socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0) : socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_RAW))
            guard fd >= 0 else {
                throw EmulatorFailure.io("flood: cannot open a \(kind == .stranger ? "UDP" : "raw") socket: \(String(cString: strerror(errno)))")
            }
            var datagrams: [[UInt8]] = []
            for index in 0..<FloodCommand.poolSize {
                let bodyLength = 16 + Int(random.next() % 1185)
                var body = (0..<bodyLength).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if index % 2 == 1 {
                    // Looks like a frame: version, a frame type, lane 0, flags plain or sealed.
                    body[0] = WireFormat.version
                    body[1] = UInt8(1 + index % 7)
                    body[2] = 0
                    body[3] = index % 4 == 1 ? 0 : WireFormat.sealedFlag
                }
                datagrams.append(forged.map { Self.ipv4UDP(from: $0, to: target, body: body) } ?? body)
            }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: datagrams.reduce(0) { $0 + $1.count }, alignment: 64)
            let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: FloodCommand.poolSize)
            var offset = 0
            for (index, datagram) in datagrams.enumerated() {
                datagram.withUnsafeBytes { buffer.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                vectors[index] = iovec(iov_base: buffer.baseAddress! + offset, iov_len: datagram.count)
                offset += datagram.count
            }
            pool = buffer
            iovs = vectors
            scratch = UnsafeMutableRawPointer.allocate(byteCount: ctun_mmsghdr_size() * FloodCommand.batch, alignment: 16)
            addresses = .allocate(capacity: FloodCommand.batch)
            lengths = .allocate(capacity: FloodCommand.batch)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            // A raw socket's port is the protocol's business; the header carries the real one.
            address.sin_port = kind == .stranger ? target.port.bigEndian : 0
            address.sin_addr.s_addr = ipv4(target).bigEndian
            for index in 0..<FloodCommand.batch {
                withUnsafeBytes(of: address) { raw in
                    UnsafeMutableRawPointer(addresses + index).copyMemory(from: raw.baseAddress!, byteCount: MemoryLayout<sockaddr_in>.size)
                }
                lengths[index] = UInt32(MemoryLayout<sockaddr_in>.size)
            }
        }

        deinit {
            close(fd)
            pool.deallocate()
            scratch.deallocate()
            iovs.deallocate()
            addresses.deallocate()
            lengths.deallocate()
        }

        /// Sends the next batch of the pool; waits for room when the socket buffer is full.
        func sendBatch(round: Int) {
            let first = (round % (FloodCommand.poolSize / FloodCommand.batch)) * FloodCommand.batch
            let result = ctun_sendmmsg(fd, scratch, iovs + first, 1, addresses, lengths, UInt32(FloodCommand.batch))
            if result > 0 {
                sent += Int(result)
            } else if result == -EAGAIN || result == -ENOBUFS {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 10)
            } else {
                failedCalls += 1
            }
        }

        /// An IPv4 header and a UDP header (checksum 0: none) before `body`.
        static func ipv4UDP(from source: Endpoint, to target: Endpoint, body: [UInt8]) -> [UInt8] {
            var packet = [UInt8](repeating: 0, count: 28 + body.count)
            let total = packet.count
            packet.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                base.storeBytes(of: 0x45, as: UInt8.self)
                base.storeNetworkOrder(UInt16(total), at: 2)
                base.storeBytes(of: 64, toByteOffset: 8, as: UInt8.self)
                base.storeBytes(of: 17, toByteOffset: 9, as: UInt8.self)
                base.storeBytes(of: ipv4(source).bigEndian, toByteOffset: 12, as: UInt32.self)
                base.storeBytes(of: ipv4(target).bigEndian, toByteOffset: 16, as: UInt32.self)
                base.storeNetworkOrder(InternetChecksum.checksum(InternetChecksum.sum(base, count: 20)), at: 10)
                base.storeNetworkOrder(source.port, at: 20)
                base.storeNetworkOrder(target.port, at: 22)
                base.storeNetworkOrder(UInt16(total - 20), at: 24)
                body.withUnsafeBytes { (base + 28).copyMemory(from: $0.baseAddress!, byteCount: body.count) }
            }
            return packet
        }
    }
}

/// The IPv4 address of `endpoint` as a number (validate() let only IPv4 through).
private func ipv4(_ endpoint: Endpoint) -> UInt32 {
    if case .v4(let value) = endpoint.address { return value }
    return 0
}

/// The monotonic clock in seconds.
private enum MonotonicNow {
    static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
