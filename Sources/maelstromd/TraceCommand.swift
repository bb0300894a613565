import ArgumentParser
import Foundation
import MaelstromCapture
import MaelstromCore

/// `maelstromd trace`: the WAN's loss pattern, measured from a capture on a receiving gateway,
/// as a summary and as a trace file for `simulate --loss trace:FILE` and the bed's emulator.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Measure per-stream WAN loss from a capture taken on a receiving gateway's WAN side, and write it as a trace.",
        discussion: """
            Capture with e.g. `tcpdump -i WAN-INTERFACE -s 128 -w FILE udp port 4500` on the receiving gateway. \
            Sealed frames are placed by their lane's frame counter (every frame type), plaintext data frames by their \
            sequence number. The trace has one entry per expected frame (0 kept, 1 lost), the streams one after the \
            other in order of first appearance (or only the one --stream names).
            """)

    @Option(help: "The capture file (pcap or pcapng, as tcpdump -w writes it).")
    var pcap: String

    @Option(help: "Only datagrams from this UDP source, ADDRESS:PORT or [ADDRESS]:PORT: the sending gateway's WAN endpoint.")
    var peer: String?

    @Option(help: "Write the loss pattern to this file, in the format of --loss trace:FILE.")
    var output: String?

    @Option(help: "Which streams go into the trace: all (one after the other), largest, or a stream's number from the summary.")
    var stream: String = "all"

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        var peerEndpoint: Endpoint? = nil
        if let peer {
            guard let endpoint = Endpoint(peer) else {
                throw CommandFailure.badInput("--peer '\(peer)' is not ADDRESS:PORT or [ADDRESS]:PORT")
            }
            peerEndpoint = endpoint
        }
        let selection = try StreamSelection(stream)
        let file: PcapFile
        do {
            file = try PcapFile(path: pcap)
        } catch {
            throw CommandFailure.badInput(error.description)
        }
        guard let linkType = file.linkType else {
            throw CommandFailure.badInput(
                "capture \(pcap): link type \(file.linkTypeName) (\(file.linkTypeValue)) is not supported; capture on an Ethernet interface, with -i any, or on a raw IP interface")
        }
        var trace = CaptureLossTrace(peer: peerEndpoint)
        do {
            try file.forEachPacket { bytes, _ in trace.add(packet: bytes, linkType: linkType) }
        } catch let error as PcapError {
            throw CommandFailure.badInput(error.description)
        }
        let summary = trace.summary

        var written: TraceReport.Written? = nil
        if let output {
            let pattern: [Bool]
            switch selection {
            case .all: pattern = trace.pattern()
            case .largest: pattern = trace.largestStream.map { trace.pattern(stream: $0) } ?? []
            case .number(let number):
                guard number <= summary.streams.count else {
                    throw CommandFailure.badInput("--stream \(number): capture \(pcap) has \(summary.streams.count) stream(s)")
                }
                pattern = trace.pattern(stream: number)
            }
            guard !pattern.isEmpty else {
                throw CommandFailure.badInput(
                    "capture \(pcap) holds no frame stream (\(summary.counters.datagrams) UDP datagrams, \(summary.counters.otherSources) from other sources, \(summary.counters.ignored) ignored); \(output) not written")
            }
            do {
                try CaptureLossTrace.traceText(pattern).write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw CommandFailure(message: "cannot write trace \(output): \(error.localizedDescription)", exitCode: 1)
            }
            written = TraceReport.Written(path: output, entries: pattern.count, lost: pattern.count { $0 }, streams: stream)
        }

        let report = TraceReport(
            capture: pcap, linkType: file.linkTypeName, snapLength: file.snapLength, peer: peerEndpoint?.description,
            trace: written, counters: summary.counters, streams: summary.streams, total: summary.total)
        if json {
            try CommandOutput.printJSON(report)
        } else {
            print(Self.table(report))
        }
    }

    /// What `--stream` asked for.
    enum StreamSelection {
        case all, largest
        case number(Int)

        init(_ text: String) throws {
            switch text {
            case "all": self = .all
            case "largest": self = .largest
            default:
                guard let number = Int(text), number >= 1 else {
                    throw CommandFailure.badInput("--stream '\(text)': use all, largest, or a stream number (1, 2, …) from the summary")
                }
                self = .number(number)
            }
        }
    }

    /// The summary as a table: the capture, then one line per stream and its bursts, then all.
    static func table(_ report: TraceReport) -> String {
        func percent(_ value: Double) -> String { String(format: "%.4f%%", value * 100) }
        func pad(_ text: String, _ width: Int, right: Bool = true) -> String {
            let padding = String(repeating: " ", count: max(0, width - text.count))
            return right ? padding + text : text + padding
        }
        func bursts(_ counts: CaptureLossCounts) -> String {
            let buckets = counts.burstBuckets.map { bucket -> String in
                let range: String
                switch bucket.maxLength {
                case nil: range = "\(bucket.minLength)+"
                case bucket.minLength?: range = "\(bucket.minLength)"
                case let upper?: range = "\(bucket.minLength)-\(upper)"
                }
                return "\(range): \(bucket.count)"
            }
            return buckets.isEmpty ? "none" : buckets.joined(separator: "  ")
        }
        let keyWidth = max(10, report.streams.map { $0.key.description.count }.max() ?? 0)
        func row(_ number: String, _ name: String, _ counts: CaptureLossCounts) -> String {
            [
                pad(number, 3), pad(name, keyWidth, right: false), pad("\(counts.expected)", 10), pad("\(counts.received)", 10),
                pad("\(counts.lost)", 8), pad(percent(counts.lossRate), 10), pad("\(counts.late)", 6), pad("\(counts.duplicates)", 5),
                pad("\(counts.stale)", 6), pad("\(counts.jumps)", 6),
            ].joined(separator: "  ")
        }
        let c = report.counters
        var lines = [
            "capture    \(report.capture) (\(report.linkType), snap length \(report.snapLength))"
                + (report.peer.map { ", from \($0) only" } ?? ""),
            "packets    \(c.packets): \(c.datagrams) UDP, \(c.notUDP) not UDP, \(c.laterFragments) later fragments, \(c.truncated) truncated",
            "datagrams  \(c.datagrams): \(c.otherSources) from other sources, \(c.ignored) ignored (\(c.handshakes) handshake messages), "
                + "\(c.unsequenced) plaintext without a sequence, \(c.frames) placed in \(report.streams.count) stream(s)",
            "",
            [
                pad("#", 3), pad("stream", keyWidth, right: false), pad("expected", 10), pad("received", 10), pad("lost", 8),
                pad("loss", 10), pad("late", 6), pad("dup", 5), pad("stale", 6), pad("jumps", 6),
            ].joined(separator: "  "),
        ]
        for stream in report.streams {
            lines.append(row("\(stream.number)", stream.key.description, stream.counts))
            lines.append("     bursts  " + bursts(stream.counts))
        }
        lines.append(row("", "all", report.total))
        lines.append("     bursts  " + bursts(report.total))
        if let trace = report.trace {
            lines.append("")
            lines.append("trace      \(trace.path): \(trace.entries) entries, \(trace.lost) lost (streams: \(trace.streams))")
        }
        return lines.joined(separator: "\n")
    }
}

/// What `maelstromd trace --json` prints.
struct TraceReport: Encodable {
    /// The trace file written, if any.
    struct Written: Encodable {
        let path: String
        let entries: Int
        let lost: Int
        let streams: String
    }

    let capture: String
    let linkType: String
    let snapLength: Int
    let peer: String?
    let trace: Written?
    let counters: CaptureCounters
    let streams: [CaptureStreamSummary]
    let total: CaptureLossCounts
}
