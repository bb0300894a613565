import ArgumentParser
import Foundation
import MaelstromCore

/// `maelstromd bench`: measurements of this machine, each against a baseline from the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Maelstrom's components against a baseline taken in the same run.",
        subcommands: [BenchCodecCommand.self])
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
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            func line(_ name: String, _ value: Double) -> String {
                name.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + String(format: "%7.2f GB/s  %6.3f × memcpy", value, value / result.memcpyGbytesPerS)
            }
            print("code \(parameters), \(packetSize)-byte packets, best of \(rounds) rounds")
            print(line("memcpy (baseline)", result.memcpyGbytesPerS))
            print(line("encode", result.encodeGbytesPerS))
            print(line("decode, no loss", result.decodeGbytesPerS))
            print(line("decode, \(loss * 100)% loss", result.decodeLossyGbytesPerS))
        }
    }
}
