import MaelstromCore

/// What the emulator has done, beyond the link's own decisions: the fate of accepted packets and timing.
struct EmulatorCounters {
    /// Accepted packets written back into the TUN.
    var written: UInt64 = 0
    /// Accepted packets dropped because every slot of their size was in use.
    var droppedLine: UInt64 = 0
    /// Packets longer than the largest slot, dropped.
    var droppedOversize: UInt64 = 0
    /// Largest lateness of a write behind its departure time, in nanoseconds.
    var lateMax: UInt64 = 0
    /// Sum of lateness over all writes, in nanoseconds (for the mean).
    var lateSum: UInt64 = 0
    /// Writes more than 100 µs behind their departure time.
    var lateOver100us: UInt64 = 0

    /// Records one write that happened `lateness` nanoseconds after its departure time.
    @inline(__always)
    mutating func recordWrite(lateness: UInt64) {
        written &+= 1
        lateSum &+= lateness
        if lateness > lateMax { lateMax = lateness }
        if lateness > 100_000 { lateOver100us &+= 1 }
    }

    /// One line of `key=value` pairs: the link's counters, then the emulator's, then the TUN's;
    /// the lateness keys only with `timing` (in virtual time they mean nothing).
    static func line(link: WANLink.Counters, emulator: EmulatorCounters, held: Int,
                     readTruncated: UInt64, writeDropped: UInt64, timing: Bool = true) -> String {
        let meanMicroseconds = emulator.written == 0 ? 0 : Double(emulator.lateSum) / Double(emulator.written) / 1_000
        var pairs: [(String, String)] = [
            ("offered", "\(link.offered)"),
            ("lost_model", "\(link.lostModel)"),
            ("dropped_queue", "\(link.droppedQueue)"),
            ("lost_outage", "\(link.lostOutage)"),
            ("duplicated", "\(link.duplicated)"),
            ("reordered", "\(link.reordered)"),
            ("delivered", "\(link.delivered)"),
            ("bytes", "\(link.bytes)"),
            ("written", "\(emulator.written)"),
            ("held", "\(held)"),
            ("dropped_line", "\(emulator.droppedLine)"),
            ("dropped_oversize", "\(emulator.droppedOversize)"),
            ("read_truncated", "\(readTruncated)"),
            ("write_dropped", "\(writeDropped)"),
        ]
        guard timing else { return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: " ") }
        pairs += [
            ("late_max_us", formatMicroseconds(Double(emulator.lateMax) / 1_000)),
            ("late_mean_us", formatMicroseconds(meanMicroseconds)),
            ("late_over_100us", "\(emulator.lateOver100us)"),
        ]
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }

    private static func formatMicroseconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
