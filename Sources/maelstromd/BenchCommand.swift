import ArgumentParser
import Foundation
import MaelstromCore

/// `maelstromd bench`: measurements of this machine, each against a baseline from the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Maelstrom's components against a baseline taken in the same run.",
        subcommands: [BenchCodecCommand.self, BenchDataplaneCommand.self])
}

/// `maelstromd bench dataplane`: the lane loops over in-memory seams, for one and more lanes.
struct BenchDataplaneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataplane",
        abstract: "Run the real lane loops (split, encode, frame, send, receive, decode, coalesce) over in-memory seams.",
        discussion: "Each lane is one thread with a sending and a receiving gateway loop joined by a loopback link; lanes share nothing. Prints payload throughput per lane count and the scaling against one lane.")

    @Option(help: "Lane counts to run, comma-separated (each run measured separately).")
    var lanes: String = "1,2"

    @Option(help: "Seconds per run.")
    var seconds: Double = 3

    @Option(help: "Packets per lane instead of a duration (for instruction counts under callgrind).")
    var packets: UInt64 = 0

    @Option(help: "TCP payload bytes per segment.")
    var mss: Int = 1360

    @Option(help: "Frame protection to run, comma-separated: none, sealed (each run measured separately, in this order).")
    var security: String = "none"

    @Flag(help: "Print one JSON object per run instead of a table.")
    var json = false

    func run() throws {
        let modes = security.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !modes.isEmpty, modes.allSatisfy({ $0 == "none" || $0 == "sealed" }) else {
            throw CommandFailure.badInput("--security must be a comma-separated list of none and sealed, got '\(security)'")
        }
        let counts = lanes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 != nil && (1...LaneID.maxLanes).contains($0!) }) else {
            throw CommandFailure.badInput("--lanes must be comma-separated lane counts from 1 to \(LaneID.maxLanes), got '\(lanes)'")
        }
        guard seconds.isFinite, seconds >= 0.1, seconds <= 600 else {
            throw CommandFailure.badInput("--seconds must be between 0.1 and 600, got \(seconds)")
        }
        guard packets <= 1_000_000_000 else { throw CommandFailure.badInput("--packets must be at most 1000000000, got \(packets)") }
        guard mss >= 100, mss <= 1360 else { throw CommandFailure.badInput("--mss must be between 100 and 1360, got \(mss)") }
        var first: DataplaneBenchmarkResult? = nil
        for mode in modes {
        for count in counts.compactMap({ $0 }) {
            let result = try DataplaneBenchmark(lanes: count, seconds: seconds, packetsPerLane: packets, mss: mss, sealed: mode == "sealed").run()
            if first == nil { first = result }
            if json {
                try CommandOutput.printJSON(result)
            } else {
                let scaling = first.map { result.packetsPerS / max($0.packetsPerS, 1) } ?? 1
                print(String(format: "%2d lane%@ %@  %8.2f Gbit/s  %10.0f packets/s  %5.2f × first run", count, count == 1 ? " " : "s",
                             mode.padding(toLength: 6, withPad: " ", startingAt: 0), result.gbitPerS, result.packetsPerS, scaling))
            }
        }
        }
    }
}

/// `maelstromd bench codec`: encoder and decoder throughput against `memcpy`.
struct BenchCodecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Encode and decode throughput (payload bytes per second) against memcpy over the same bytes.")

    @OptionGroup var fec: FECOptions

    @Option(name: .customLong("packet-size"), help: "Bytes per data packet.")
    var packetSize: Int = 1400

    @Option(help: "Frame loss probability for the lossy decode run.")
    var loss: Double = 0.01

    @Option(help: "Timed rounds per measurement; the best round is reported.")
    var rounds: Int = 7

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        guard packetSize >= 1 && packetSize <= FECParameters.maxPacketSizeLimit else {
            throw CommandFailure.badInput("--packet-size must be between 1 and \(FECParameters.maxPacketSizeLimit), got \(packetSize)")
        }
        guard loss >= 0 && loss < 1 else { throw CommandFailure.badInput("--loss must be in [0, 1), got \(loss)") }
        guard rounds >= 1 && rounds <= 1000 else { throw CommandFailure.badInput("--rounds must be between 1 and 1000") }
        let parameters = try fec.parameters(maxPacketSize: packetSize)
        let result = CodecBenchmark(parameters: parameters, packetSize: packetSize, loss: loss, rounds: rounds).run()
        if json {
            try CommandOutput.printJSON(result)
        } else {
            func line(_ name: String, _ value: Double) -> String {
                name.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + String(format: "%7.2f GB/s  %6.3f × memcpy", value, value / result.memcpyGbytesPerS)
            }
            print("code \(parameters), \(packetSize)-byte packets, best of \(rounds) rounds")
            print(line("memcpy (baseline)", result.memcpyGbytesPerS))
            print(line("copy into window slots", result.windowCopyGbytesPerS))
            print(line("encode", result.encodeGbytesPerS))
            print(line("decode, no loss", result.decodeGbytesPerS))
            print(line("decode, \(loss * 100)% loss", result.decodeLossyGbytesPerS))
        }
    }
}
