/// One sample line of a Prometheus text exposition: `name{label="value",…} value [timestamp]`.
struct ExpositionSample: Sendable, Equatable {
    /// The series name, including any `_bucket`/`_sum`/`_count` suffix.
    var name: String
    /// The labels, unescaped.
    var labels: [String: String]
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    var value: Double
}

/// A line of exposition text that is neither a comment nor a well-formed sample.
struct ExpositionError: Error, CustomStringConvertible {
    /// 1-based line number.
    let line: Int
    /// What is wrong with it.
    let reason: String

    /// `line N: reason`.
    var description: String { "line \(line): \(reason)" }
}

/// The samples of a Prometheus text exposition (format 0.0.4), in the order served; comments skipped.
struct Exposition: Sendable {
    /// Every sample line.
    var samples: [ExpositionSample]

    /// Parses exposition text; throws on the first malformed sample line.
    init(parsing text: String) throws(ExpositionError) {
        samples = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed == "\r" { continue }
            samples.append(try Self.parseSample(Array(trimmed.utf8), line: lineNumber))
        }
    }

    /// The value of the first sample named `name` whose labels include all of `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in
            sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
        }?.value
    }

    /// Samples named `name`, in the order served.
    func samples(named name: String) -> [ExpositionSample] {
        samples.filter { $0.name == name }
    }

    private static func parseSample(_ bytes: [UInt8], line: Int) throws(ExpositionError) -> ExpositionSample {
        var index = 0
        func fail(_ reason: String) -> ExpositionError { ExpositionError(line: line, reason: reason) }
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }

        let nameStart = index
        while index < bytes.count, !isSpace(bytes[index]), bytes[index] != UInt8(ascii: "{") { index += 1 }
        guard index > nameStart else { throw fail("missing series name") }
        let name = String(decoding: bytes[nameStart..<index], as: UTF8.self)

        var labels: [String: String] = [:]
        if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
            index += 1
            while true {
                while index < bytes.count, isSpace(bytes[index]) || bytes[index] == UInt8(ascii: ",") { index += 1 }
                guard index < bytes.count else { throw fail("unterminated label set") }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    break
                }
                let keyStart = index
                while index < bytes.count, bytes[index] != UInt8(ascii: "="), !isSpace(bytes[index]) { index += 1 }
                let key = String(decoding: bytes[keyStart..<index], as: UTF8.self)
                while index < bytes.count, isSpace(bytes[index]) { index += 1 }
                guard !key.isEmpty, index + 1 < bytes.count, bytes[index] == UInt8(ascii: "="),
                    bytes[index + 1] == UInt8(ascii: "\"")
                else { throw fail("expected label=\"value\" in \(name)") }
                index += 2
                var value = [UInt8]()
                var closed = false
                while index < bytes.count {
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "\"") {
                        closed = true
                        break
                    }
                    if byte == UInt8(ascii: "\\"), index < bytes.count {
                        let escaped = bytes[index]
                        index += 1
                        value.append(escaped == UInt8(ascii: "n") ? UInt8(ascii: "\n") : escaped)
                    } else {
                        value.append(byte)
                    }
                }
                guard closed else { throw fail("unterminated label value in \(name)") }
                labels[key] = String(decoding: value, as: UTF8.self)
            }
        }

        while index < bytes.count, isSpace(bytes[index]) { index += 1 }
        let valueStart = index
        while index < bytes.count, !isSpace(bytes[index]) { index += 1 }
        let text = String(decoding: bytes[valueStart..<index], as: UTF8.self)
        guard let value = parseValue(text) else { throw fail("bad value '\(text)' for \(name)") }
        // Anything after the value is an optional timestamp, which a summary has no use for.
        return ExpositionSample(name: name, labels: labels, value: value)
    }

    /// Parses a sample value as Prometheus writes them (Go float syntax plus `+Inf`, `-Inf`, `NaN`).
    static func parseValue(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
    }
}

/// A Prometheus histogram series read back from its `_bucket` samples.
struct ExposedHistogram: Sendable, Equatable {
    /// Upper bound and cumulative count of each bucket, by increasing bound (the last is `+Inf`).
    var buckets: [(upperBound: Double, cumulativeCount: Double)]

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.buckets.elementsEqual(rhs.buckets) { $0.upperBound == $1.upperBound && $0.cumulativeCount == $1.cumulativeCount }
    }

    /// Number of observations (the `+Inf` bucket).
    var count: Double { buckets.last?.cumulativeCount ?? 0 }

    /// Estimates quantile `q` (0…1) as PromQL's `histogram_quantile` does: linear interpolation inside
    /// the bucket that holds the rank; the highest finite bound if the rank falls in `+Inf`; nil when empty.
    func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = q * count
        var lowerBound = 0.0
        var lowerCount = 0.0
        for (position, bucket) in buckets.enumerated() where bucket.cumulativeCount >= rank {
            if bucket.upperBound.isInfinite {
                return position > 0 ? buckets[position - 1].upperBound : nil
            }
            if position > 0 {
                lowerBound = buckets[position - 1].upperBound
                lowerCount = buckets[position - 1].cumulativeCount
            }
            let inBucket = bucket.cumulativeCount - lowerCount
            guard inBucket > 0 else { return bucket.upperBound }
            return lowerBound + (bucket.upperBound - lowerBound) * (rank - lowerCount) / inBucket
        }
        return nil
    }
}

extension Exposition {
    /// The histogram `name` (without `_bucket`) whose buckets carry all of `labels`; nil if it has none.
    func histogram(_ name: String, _ labels: [String: String]) -> ExposedHistogram? {
        var buckets: [(upperBound: Double, cumulativeCount: Double)] = []
        for sample in samples where sample.name == name + "_bucket" {
            guard labels.allSatisfy({ key, value in sample.labels[key] == value }),
                let bound = sample.labels["le"].flatMap(Self.parseValue)
            else { continue }
            buckets.append((bound, sample.value))
        }
        guard !buckets.isEmpty else { return nil }
        return ExposedHistogram(buckets: buckets.sorted { $0.upperBound < $1.upperBound })
    }
}
