/// How a simulated or emulated link loses packets.
public enum LossModel: Sendable, Equatable, CustomStringConvertible {
    /// Nothing is lost.
    case none
    /// Each packet is lost independently with probability `p`.
    case bernoulli(p: Double)
    /// Gilbert–Elliott: from good to bad with probability `p` per packet, back with `r`;
    /// every packet in the bad state is lost.
    case gilbert(p: Double, r: Double)
    /// `length` consecutive packets lost every `every` packets.
    case burst(length: Int, every: Int)
    /// Replays a recorded pattern, one entry per packet (true = lost), repeating at its end.
    case trace([Bool])

    /// Parses `none`, `bernoulli:P`, `gilbert:P,R` or `burst:LEN,EVERY`.
    ///
    /// `trace:FILE` needs a file read, which belongs to the caller: it passes the file's text to
    /// `parseTrace`. Throws a `LossModelError` whose message names the problem.
    public static func parse(_ text: String, traceLoader: (String) throws -> String = { _ in "" }) throws -> LossModel {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let kind = parts.first ?? ""
        let arguments = parts.count > 1 ? parts[1] : ""
        func numbers(_ expected: Int) throws -> [Double] {
            let values = arguments.split(separator: ",").map { Double(String($0.filter { $0 != " " })) }
            guard values.count == expected, values.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                throw LossModelError("loss model '\(text)': '\(kind)' takes \(expected) finite number\(expected == 1 ? "" : "s") after ':'")
            }
            return values.map { $0! }
        }
        func probability(_ value: Double, _ name: String) throws -> Double {
            guard value >= 0 && value <= 1 else {
                throw LossModelError("loss model '\(text)': \(name) must be between 0 and 1, got \(value)")
            }
            return value
        }
        switch kind {
        case "none":
            guard arguments.isEmpty else { throw LossModelError("loss model '\(text)': 'none' takes no arguments") }
            return .none
        case "bernoulli":
            return .bernoulli(p: try probability(try numbers(1)[0], "P"))
        case "gilbert":
            let values = try numbers(2)
            return .gilbert(p: try probability(values[0], "P"), r: try probability(values[1], "R"))
        case "burst":
            let values = try numbers(2)
            guard values[0] >= 0, values[1] >= 1, values[0] <= values[1], values[1] <= Double(Self.maxBurstPeriod),
                values[0] == values[0].rounded(), values[1] == values[1].rounded()
            else {
                throw LossModelError("loss model '\(text)': burst needs whole numbers 0 ≤ LEN ≤ EVERY, 1 ≤ EVERY ≤ \(Self.maxBurstPeriod)")
            }
            return .burst(length: Int(values[0]), every: Int(values[1]))
        case "trace":
            guard !arguments.isEmpty else { throw LossModelError("loss model '\(text)': 'trace' needs a file name") }
            return try parseTrace(try traceLoader(arguments), source: arguments)
        default:
            throw LossModelError("loss model '\(text)': unknown kind '\(kind)' (use none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY or trace:FILE)")
        }
    }

    /// The longest burst period `burst:LEN,EVERY` takes.
    public static let maxBurstPeriod = 1_000_000_000

    /// Reads a trace: `0` (kept) or `1` (lost) per packet, separated by white space or commas;
    /// lines may end in LF or CRLF.
    public static func parseTrace(_ text: String, source: String) throws -> LossModel {
        var pattern: [Bool] = []
        var line = 1
        // Unicode scalars, not Characters: "\r\n" is one Character in Swift.
        for scalar in text.unicodeScalars {
            switch scalar {
            case "0": pattern.append(false)
            case "1": pattern.append(true)
            case "\n":
                line += 1
            case " ", "\t", "\r", ",": continue
            default:
                throw LossModelError("trace \(source), line \(line): unexpected character '\(Character(scalar))' (only 0 and 1)")
            }
        }
        guard !pattern.isEmpty else { throw LossModelError("trace \(source): no 0 or 1 entries") }
        return .trace(pattern)
    }

    /// The long-run fraction of packets lost.
    public var expectedLossRate: Double {
        switch self {
        case .none: 0
        case .bernoulli(let p): p
        case .gilbert(let p, let r): p + r == 0 ? 0 : p / (p + r)
        case .burst(let length, let every): Double(length) / Double(every)
        case .trace(let pattern): Double(pattern.filter { $0 }.count) / Double(pattern.count)
        }
    }

    /// The model in the syntax `parse` reads (a trace shows its length).
    public var description: String {
        switch self {
        case .none: "none"
        case .bernoulli(let p): "bernoulli:\(p)"
        case .gilbert(let p, let r): "gilbert:\(p),\(r)"
        case .burst(let length, let every): "burst:\(length),\(every)"
        case .trace(let pattern): "trace(\(pattern.count) entries)"
        }
    }
}

/// A loss model that could not be read.
public struct LossModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong, naming the text that was read.
    public let message: String
    /// Creates an error with its message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// A running instance of a `LossModel`: answers, packet after packet, whether it is lost.
public struct LossProcess: Sendable {
    /// The model being run.
    public let model: LossModel
    private var random: SplitMix64
    private var bad = false
    private var position = 0

    /// Starts the model; equal seeds give equal losses.
    public init(model: LossModel, seed: UInt64) {
        self.model = model
        self.random = SplitMix64(seed: seed)
    }

    /// Whether the next packet is lost.
    public mutating func nextIsLost() -> Bool {
        defer { position &+= 1 }
        switch model {
        case .none:
            return false
        case .bernoulli(let p):
            return random.nextUnit() < p
        case .gilbert(let p, let r):
            bad = bad ? random.nextUnit() >= r : random.nextUnit() < p
            return bad
        case .burst(let length, let every):
            // The first burst starts one period in, so a stream's first packets get through.
            let phase = position % every
            return position >= every && phase < length
        case .trace(let pattern):
            return pattern[position % pattern.count]
        }
    }
}
