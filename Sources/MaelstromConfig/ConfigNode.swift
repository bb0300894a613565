import Yams

/// A YAML node with the dotted path and line that an error about it must name.
struct ConfigNode {
    let node: Node
    let location: Location

    /// Scalars point at their own line; collections and empty values at the key that introduced
    /// them, which is where the reader looks.
    init(_ node: Node, path: String, keyLine: Int, file: String) {
        self.node = node
        var line = keyLine
        if case .scalar = node, !Self.isNull(node), let mark = node.mark { line = mark.line }
        location = Location(file: file, line: line, key: path)
    }

    var isNull: Bool { Self.isNull(node) }

    private static func isNull(_ node: Node) -> Bool {
        if case .scalar = node { node.tag.rawValue == Tag.Name.null.rawValue } else { false }
    }

    func error(_ code: ConfigError.Code, _ message: String) -> ConfigError { location.error(code, message) }

    func wrongType(_ expected: String) -> ConfigError { error(.wrongType, "expected \(expected), got \(kind)") }

    /// What the value is, in the words an error message needs.
    private var kind: String {
        switch node {
        case .scalar(let scalar):
            switch node.tag.rawValue {
            case Tag.Name.null.rawValue: return "nothing"
            case Tag.Name.int.rawValue: return "the integer \(scalar.string)"
            case Tag.Name.float.rawValue: return "the number \(scalar.string)"
            case Tag.Name.bool.rawValue: return "the boolean \(scalar.string)"
            default: return "the string '\(scalar.string)'"
            }
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The text of any non-empty scalar: names and addresses may look like numbers to YAML.
    func string(_ expected: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node, !isNull else { throw wrongType(expected) }
        return scalar.string
    }

    /// A decimal integer; YAML 1.1's octal, hex and sexagesimal forms are refused as too surprising.
    func int(in range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigError) -> Int {
        guard case .scalar(let scalar) = node, node.tag.rawValue == Tag.Name.int.rawValue else {
            throw wrongType("an integer")
        }
        let text = scalar.string
        let digits = text.drop { $0 == "+" || $0 == "-" }
        guard let value = Int(text), digits.count == 1 || !digits.hasPrefix("0") else {
            throw error(.badValue, "'\(text)' is not a decimal integer")
        }
        guard range.contains(value) else {
            throw error(.badValue, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A finite decimal number (YAML int or float, e.g. `0.03`, `1e-6`) within `range`.
    func double(in range: ClosedRange<Double>) throws(ConfigError) -> Double {
        // Any plain scalar that reads as a number: YAML 1.1 takes `1e-6` (no dot) for a string.
        guard case .scalar(let scalar) = node, !isNull, node.tag.rawValue != Tag.Name.bool.rawValue else {
            throw wrongType("a number")
        }
        let text = scalar.string
        guard let value = Double(text), value.isFinite else { throw error(.badValue, "'\(text)' is not a finite decimal number") }
        guard range.contains(value) else {
            throw error(.badValue, "must be between \(range.lowerBound) and \(range.upperBound), got \(text)")
        }
        return value
    }

    func bool() throws(ConfigError) -> Bool {
        guard node.tag.rawValue == Tag.Name.bool.rawValue, let value = node.bool else { throw wrongType("true or false") }
        return value
    }

    /// A duration within `range` (nanoseconds): every duration has a sane range, so no deadline
    /// computed from one can wrap around.
    func duration(in range: ClosedRange<UInt64>) throws(ConfigError) -> UInt64 {
        let value: UInt64
        switch DurationText.parse(try string(DurationText.expected)) {
        case .success(let nanoseconds): value = nanoseconds
        case .failure(let failure): throw error(.badValue, failure.message)
        }
        guard range.contains(value) else {
            throw error(
                .badValue,
                "must be between \(DurationText.format(range.lowerBound)) and \(DurationText.format(range.upperBound)), got \(DurationText.format(value))")
        }
        return value
    }

    /// A size in bytes such as `512MiB` or `1GiB` (units B, KiB, MiB, GiB), within `range`.
    func byteSize(in range: ClosedRange<UInt64>) throws(ConfigError) -> UInt64 {
        let text = try string(ByteSizeText.expected)
        guard let value = ByteSizeText.parse(text) else { throw error(.badValue, "'\(text)' is not \(ByteSizeText.expected)") }
        guard range.contains(value) else {
            throw error(
                .badValue,
                "must be between \(ByteSizeText.format(range.lowerBound)) and \(ByteSizeText.format(range.upperBound)), got \(ByteSizeText.format(value))")
        }
        return value
    }

    func list() throws(ConfigError) -> [ConfigNode] {
        guard case .sequence(let sequence) = node else { throw wrongType("a list") }
        return sequence.enumerated().map { index, item in
            ConfigNode(item, path: "\(location.key)[\(index)]", keyLine: item.mark?.line ?? location.line, file: location.file)
        }
    }

    func mapping(keys: [String]) throws(ConfigError) -> ConfigMapping { try ConfigMapping(self, keys: keys) }
}

/// A YAML mapping whose keys have been checked against the format, read by key.
struct ConfigMapping {
    let location: Location
    private var entries: [String: ConfigNode] = [:]

    /// Refuses keys outside `keys` here, so no typo is silently ignored.
    init(_ owner: ConfigNode, keys: [String]) throws(ConfigError) {
        guard case .mapping(let mapping) = owner.node else { throw owner.wrongType("a mapping") }
        location = owner.location
        for (keyNode, value) in mapping {
            let keyLine = keyNode.mark?.line ?? location.line
            guard case .scalar(let scalar) = keyNode else {
                throw Location(file: location.file, line: keyLine, key: location.key).error(.wrongType, "keys must be plain names")
            }
            let name = scalar.string
            let path = location.child(name).key
            guard keys.contains(name) else {
                let hint = KeySuggestion.nearest(to: name, among: keys).map { " (did you mean '\($0)'?)" } ?? ""
                throw Location(file: location.file, line: keyLine, key: path).error(.unknownKey, "unknown key '\(name)'\(hint)")
            }
            entries[name] = ConfigNode(value, path: path, keyLine: keyLine, file: location.file)
        }
    }

    /// The value of `key`, or nil when it is absent or empty (`key:` with nothing means "default").
    func optional(_ key: String) -> ConfigNode? {
        guard let node = entries[key], !node.isNull else { return nil }
        return node
    }

    func required(_ key: String) throws(ConfigError) -> ConfigNode {
        guard let node = entries[key] else {
            throw location.child(key).error(.missingKey, "missing required key '\(key)'")
        }
        guard !node.isNull else { throw node.error(.missingKey, "'\(key)' needs a value") }
        return node
    }

    /// The mapping under `key`; empty when the section is absent, so its defaulted keys still have a location.
    func section(_ key: String, keys: [String]) throws(ConfigError) -> ConfigMapping {
        guard let node = optional(key) else { return ConfigMapping(absentAt: location.child(key)) }
        return try node.mapping(keys: keys)
    }

    private init(absentAt location: Location) { self.location = location }

    /// Where a key is, or where it would be: defaulted values are still checked and reported.
    func location(of key: String) -> Location { optional(key)?.location ?? location.child(key) }
}
