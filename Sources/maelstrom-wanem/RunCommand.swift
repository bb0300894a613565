import ArgumentParser
import Foundation
import MaelstromCore
import MaelstromTun

/// `maelstrom-wanem [run]`: the emulated link through a TUN device, until SIGTERM or SIGINT.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Create the TUN device and emulate the link through it (the default command).")

    @Option(help: "TUN device to create (at most 15 bytes); packets routed into it cross the link and come back out of it.")
    var tun: String

    @OptionGroup var link: LinkOptions

    @Option(help: "MTU of the TUN device; 9000 lets any packet of the bed through uncut.")
    var mtu: Int = 9000

    @Option(help: "2048-byte slots for packets in flight (the line's capacity for ordinary packets).")
    var slots: Int = 16384

    @Option(name: .customLong("jumbo-slots"), help: "MTU-sized slots for packets longer than 2048 bytes.")
    var jumboSlots: Int = 512

    @Option(name: .customLong("spin-us"), help: "Busy-wait this long before a departure instead of sleeping (jitter against CPU).")
    var spinMicroseconds: Int = 50

    @Option(name: .customLong("rt-priority"), help: "SCHED_FIFO priority of the packet loop (1-99; 0 keeps the normal scheduler).")
    var realtimePriority: Int32 = 10

    func run() throws {
        let configuration = try link.configuration()
        guard !tun.isEmpty, tun.utf8.count <= 15, !tun.contains("/"), !tun.contains(" ") else {
            throw EmulatorFailure.badInput("--tun must be an interface name of 1 to 15 bytes without '/' or spaces, got '\(tun)'")
        }
        guard mtu >= 576 && mtu <= 65535 else { throw EmulatorFailure.badInput("--mtu must be between 576 and 65535, got \(mtu)") }
        guard slots >= 16 && slots <= 1 << 22 else { throw EmulatorFailure.badInput("--slots must be between 16 and 4194304, got \(slots)") }
        guard jumboSlots >= 1 && jumboSlots <= 1 << 16 else {
            throw EmulatorFailure.badInput("--jumbo-slots must be between 1 and 65536, got \(jumboSlots)")
        }
        guard spinMicroseconds >= 0 && spinMicroseconds <= 10_000 else {
            throw EmulatorFailure.badInput("--spin-us must be between 0 and 10000, got \(spinMicroseconds)")
        }
        guard realtimePriority >= 0 && realtimePriority <= 99 else {
            throw EmulatorFailure.badInput("--rt-priority must be between 0 and 99, got \(realtimePriority)")
        }
        if let problem = TimerSlack.minimise() {
            FileHandle.standardError.write(Data("maelstrom-wanem: warning: \(problem); jitter may exceed 50 µs\n".utf8))
        }
        let loop: EmulatorLoop
        do {
            let device = try TunDevice(name: tun)
            try device.setMTU(mtu)
            try device.setUp()
            let path = PacketPath(
                link: try WANLink(configuration: configuration, origin: MonotonicClock.now()),
                line: DelayLine(smallSlots: slots, largeSlots: jumboSlots, largeSlotSize: mtu))
            loop = try EmulatorLoop(tun: device, path: path, spinNanoseconds: UInt64(spinMicroseconds) * 1_000)
        } catch let error as IOError {
            throw EmulatorFailure.io(error.message)
        }
        let sources = loop.requests.installSignalSources()
        defer { withExtendedLifetime(sources) {} }
        // After the signal sources exist, so Dispatch's threads keep the normal scheduler.
        if realtimePriority > 0, let problem = RealtimePriority.apply(realtimePriority) {
            FileHandle.standardError.write(Data("maelstrom-wanem: warning: \(problem); jitter may suffer under load\n".utf8))
        }
        FileHandle.standardError.write(Data(("maelstrom-wanem: \(tun) up: " + Self.describe(configuration) + "\n").utf8))
        do {
            // Unbuffered, so a log file or a pipe has the line as soon as it is asked for.
            try loop.run { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        } catch {
            throw EmulatorFailure.io(error.message)
        }
    }

    /// The link's settings in the options' own terms, for the startup line.
    static func describe(_ c: WANLinkConfiguration) -> String {
        let rate = c.rateBitsPerSecond == 0 ? "unlimited" : "\(Double(c.rateBitsPerSecond) / 1_000_000)"
        return "delay_ms=\(Double(c.delayNanoseconds) / 1_000_000) jitter_ms=\(Double(c.jitterNanoseconds) / 1_000_000) "
            + "rate_mbit=\(rate) queue_bytes=\(c.queueBytes) loss=\(c.loss) seed=\(c.seed) reorder=\(c.allowReorder)"
            + " duplicate=\(c.duplicateProbability) reorder_probability=\(c.reorderProbability)"
            + " reorder_delay_ms=\(Double(c.reorderDelayNanoseconds) / 1_000_000)"
            + " outages=" + (c.outages.isEmpty ? "none" : c.outages.map {
                "\(Double($0.startNanoseconds) / 1e9)+\(Double($0.durationNanoseconds) / 1e9)"
            }.joined(separator: ","))
    }
}
