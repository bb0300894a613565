import ArgumentParser
import Foundation
import MaelstromCore
import MaelstromTun

/// `maelstrom-wanem bench`: the emulator's per-packet cost, with the real packet path but no system calls.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the per-packet cost of the emulator's packet path (everything but read and write).",
        discussion: """
            Packets arrive in virtual time at --offered-gbit and go through the same code as in the emulator: \
            the link's decision, the copy into a slot, the departure heap, the clock reads and the counters. \
            Defaults: --delay-ms 25 --rate-mbit 1000, so a full bandwidth-delay product is in flight.
            """)

    @OptionGroup var link: LinkOptions

    @Option(help: "Packets per timed round.")
    var packets: Int = 2_000_000

    @Option(name: .customLong("packet-size"), help: "Bytes per packet.")
    var packetSize: Int = 1400

    @Option(name: .customLong("offered-gbit"), help: "Arrival rate in virtual time, in Gbit/s.")
    var offeredGbit: Double = 1

    @Option(help: "Timed rounds; the best is reported.")
    var rounds: Int = 5

    @Option(help: "2048-byte slots, as for the emulator.")
    var slots: Int = 16384

    func run() throws {
        let configuration = try link.configuration(defaultDelayMs: 25, defaultRateMbit: 1000)
        guard packets >= 1 && packets <= 1_000_000_000 else {
            throw EmulatorFailure.badInput("--packets must be between 1 and 1000000000, got \(packets)")
        }
        guard packetSize >= 20 && packetSize <= 9000 else {
            throw EmulatorFailure.badInput("--packet-size must be between 20 and 9000, got \(packetSize)")
        }
        guard offeredGbit.isFinite && offeredGbit > 0 && offeredGbit <= 1000 else {
            throw EmulatorFailure.badInput("--offered-gbit must be in (0, 1000], got \(offeredGbit)")
        }
        guard rounds >= 1 && rounds <= 100 else { throw EmulatorFailure.badInput("--rounds must be between 1 and 100, got \(rounds)") }
        guard slots >= 16 && slots <= 1 << 22 else { throw EmulatorFailure.badInput("--slots must be between 16 and 4194304, got \(slots)") }

        let interval = UInt64((Double(packetSize) * 8 / offeredGbit).rounded())
        let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: packetSize, alignment: 64)
        defer { packet.deallocate() }
        for i in 0..<packetSize { packet[i] = UInt8(truncatingIfNeeded: i &* 31) }
        packet[0] = 0x45

        var best = Double.infinity
        var last: (WANLink.Counters, EmulatorCounters, Int) = (.init(), .init(), 0)
        var sink: UInt64 = 0
        for _ in 0..<rounds {
            let path = PacketPath(link: try WANLink(configuration: configuration),
                                  line: DelayLine(smallSlots: slots, largeSlots: 64, largeSlotSize: 9000))
            let started = MonotonicClock.now()
            sink &+= Self.drive(path, packet: UnsafeRawBufferPointer(packet), count: packets, interval: interval)
            let elapsed = MonotonicClock.now() - started
            best = min(best, Double(elapsed) / Double(packets))
            last = (path.link.counters, path.counters, path.line.count)
        }
        let packetsPerSecond = 1e9 / best
        let gbit1400 = packetsPerSecond * 1400 * 8 / 1e9
        print("link: " + RunCommand.describe(configuration))
        print("offered \(offeredGbit) Gbit/s of \(packetSize)-byte packets in virtual time, \(packets) packets per round, best of \(rounds)")
        print(String(format: "per packet       %8.1f ns (arrive + hold + write-out bookkeeping, no syscalls)", best))
        print(String(format: "packets/s        %8.0f", packetsPerSecond))
        print(String(format: "1400-byte pkts   %8.2f Gbit/s", gbit1400))
        print("last round: " + EmulatorCounters.line(link: last.0, emulator: last.1, held: last.2, readTruncated: 0, writeDropped: 0, timing: false)
              + " checksum=\(sink & 0xFF)")
    }

    /// Runs `count` packets through `path`, as the emulator loop would, with virtual time; returns a checksum
    /// of the bytes handed out so the optimiser cannot drop the work.
    @inline(never)
    static func drive(_ path: PacketPath, packet: UnsafeRawBufferPointer, count: Int, interval: UInt64) -> UInt64 {
        let line = path.line
        var now: UInt64 = 1_000_000_000
        var checksum: UInt64 = 0
        for _ in 0..<count {
            now &+= interval
            // The loop stamps every arrival and every write with the real clock; pay for those reads here too.
            checksum &+= MonotonicClock.now() & 1
            path.arrive(packet, now: now)
            while line.nextDeparture <= now {
                let departure = line.nextDeparture
                let out = line.front()
                checksum &+= UInt64(out.load(fromByteOffset: out.count - 8, as: UInt64.self) & 0xFF)
                checksum &+= MonotonicClock.now() & 1
                path.counters.recordWrite(lateness: now - departure)
                line.release()
            }
        }
        return checksum
    }
}
