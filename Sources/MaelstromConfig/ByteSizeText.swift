/// Sizes as written in the file: a whole number and a binary unit, `64KiB`, `512MiB`, `1GiB`.
enum ByteSizeText {
    private static let units: [(suffix: String, bytes: UInt64)] = [
        ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1),
    ]

    static let expected = "a size such as 512MiB or 1GiB (a whole number and one of B, KiB, MiB, GiB)"

    /// The number of bytes, or nil when the text is not a size.
    static func parse(_ text: String) -> UInt64? {
        guard let unit = units.first(where: { text.hasSuffix($0.suffix) }) else { return nil }
        let number = text.dropLast(unit.suffix.count)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), number.count == 1 || !number.hasPrefix("0"),
            let value = UInt64(number)
        else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit.bytes)
        return overflow ? nil : bytes
    }

    /// The largest unit that represents `bytes` exactly.
    static func format(_ bytes: UInt64) -> String {
        for unit in units where bytes % unit.bytes == 0 && bytes >= unit.bytes { return "\(bytes / unit.bytes)\(unit.suffix)" }
        return "\(bytes)B"
    }

    /// `bytes` for a reader: `9.4 GiB`.
    static func approximate(_ bytes: Int) -> String {
        let value = Double(bytes)
        for (suffix, size) in units where value >= Double(size) {
            return size == 1 ? "\(bytes) B" : String(format: "%.1f %@", value / Double(size), suffix)
        }
        return "\(bytes) B"
    }
}
