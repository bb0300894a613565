import Foundation
import ArgumentParser
import MaelstromCore

/// The code's command-line options, shared by `simulate` and `bench codec`.
struct FECOptions: ParsableArguments {
    @Option(name: .customLong("r"), help: "Data packets per repair packet.")
    var r: Int = 8

    @Option(name: .customLong("c"), help: "Number of layers (default: the number of interleaves).")
    var c: Int?

    @Option(help: "Interleave of each layer, comma-separated and strictly increasing.")
    var interleaves: String = "1,10,100"

    @Option(name: .customLong("flush-ms"), help: "Flush deadline of layer-0 bins in milliseconds (deeper layers scale it by their interleave).")
    var flushMilliseconds: Double = 5

    /// The validated parameters for packets up to `maxPacketSize` bytes, or a one-line error.
    func parameters(maxPacketSize: Int) throws -> FECParameters {
        let pieces = interleaves.split(separator: ",", omittingEmptySubsequences: false)
        let values = pieces.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == pieces.count, !values.isEmpty else {
            throw CommandFailure.badInput("--interleaves must be comma-separated whole numbers, got '\(interleaves)'")
        }
        if let c, c != values.count {
            throw CommandFailure.badInput("--c \(c) does not match the \(values.count) interleaves given (\(interleaves))")
        }
        guard flushMilliseconds.isFinite, flushMilliseconds >= 0.1, flushMilliseconds <= 10_000 else {
            throw CommandFailure.badInput("--flush-ms must be between 0.1 and 10000, got \(flushMilliseconds)")
        }
        let parameters = FECParameters(
            r: r, interleaves: values, flushAfterNanoseconds: UInt64(flushMilliseconds * 1e6), maxPacketSize: maxPacketSize)
        do {
            for warning in try parameters.validate() {
                FileHandle.standardError.write(Data("maelstromd: warning: \(warning)\n".utf8))
            }
        } catch {
            throw CommandFailure.badInput(error.message)
        }
        return parameters
    }
}
