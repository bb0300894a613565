/// Durations as written in the file: an integer or decimal and a unit, `500us`, `5ms`, `1.5s`.
enum DurationText {
    /// Longest suffix first, so that `ms` is not read as `m` + `s`.
    private static let units: [(suffix: String, nanoseconds: UInt64)] = [
        ("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
    ]

    static let expected = "a duration such as 500us, 5ms or 1.5s (a number and one of ns, us, ms, s)"

    /// Exact nanoseconds, or a message saying why the text is refused.
    static func parse(_ text: String) -> Result<UInt64, DurationError> {
        guard let unit = units.first(where: { text.hasSuffix($0.suffix) }) else {
            return .failure(DurationError(message: "'\(text)' is not \(expected)"))
        }
        let number = text.dropLast(unit.suffix.count)
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let whole = UInt64(parts[0])
        else { return .failure(DurationError(message: "'\(text)' is not \(expected)")) }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: unit.nanoseconds)
        guard !overflow else { return .failure(DurationError(message: "'\(text)' is too long")) }
        guard parts.count == 2 else { return .success(scaled) }
        // Integer arithmetic keeps 1.1s exact, which a Double would not.
        let digits = parts[1].reversed().drop { $0 == "0" }.reversed()
        guard digits.count <= 9, let fraction = UInt64(String(digits).isEmpty ? "0" : String(digits)) else {
            return .failure(DurationError(message: "'\(text)' is finer than one nanosecond"))
        }
        var divisor: UInt64 = 1
        for _ in 0..<digits.count { divisor *= 10 }
        let product = fraction * unit.nanoseconds
        guard product % divisor == 0 else {
            return .failure(DurationError(message: "'\(text)' is finer than one nanosecond"))
        }
        let (total, overflowSum) = scaled.addingReportingOverflow(product / divisor)
        return overflowSum ? .failure(DurationError(message: "'\(text)' is too long")) : .success(total)
    }

    /// The largest unit that represents `nanoseconds` exactly, so rendering then parsing loses nothing.
    static func format(_ nanoseconds: UInt64) -> String {
        for unit in units.reversed() where nanoseconds % unit.nanoseconds == 0 {
            return "\(nanoseconds / unit.nanoseconds)\(unit.suffix)"
        }
        return "\(nanoseconds)ns"
    }
}

/// Why a duration's text was refused.
struct DurationError: Error {
    let message: String
}
