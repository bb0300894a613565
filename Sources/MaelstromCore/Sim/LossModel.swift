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
    /// Phases in time, each a model held for a duration; the last phase holds on after its end.
    /// Time counts from the link's origin (the emulator's start, the simulation's first packet).
    case schedule([LossPhase])

    /// Parses `none`, `bernoulli:P`, `gilbert:P,R`, `burst:LEN,EVERY`, `trace:FILE` or
    /// `schedule:DURATION=MODEL,DURATION=MODEL,…` (durations such as `500ms`, `20s`, `2m`).
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
        case "schedule":
            return try parseSchedule(arguments, whole: text, traceLoader: traceLoader)
        default:
            throw LossModelError("loss model '\(text)': unknown kind '\(kind)' (use none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY, trace:FILE or schedule:D=MODEL,…)")
        }
    }

    /// The most phases a schedule takes.
    public static let maxPhases = 1000

    /// Reads the phases of `schedule:`. A comma separates phases only where a duration and `=`
    /// follow it, since a model's own arguments (`gilbert:P,R`) contain commas too.
    private static func parseSchedule(
        _ arguments: String, whole text: String, traceLoader: (String) throws -> String
    ) throws -> LossModel {
        var pieces: [String] = []
        for token in arguments.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = token.trimmingSpaces
            let startsPhase = trimmed.firstIndex(of: "=").map { parseDuration(String(trimmed[..<$0])) != nil } ?? false
            if startsPhase || pieces.isEmpty {
                pieces.append(trimmed)
            } else {
                pieces[pieces.count - 1] += "," + trimmed
            }
        }
        guard !pieces.isEmpty, pieces.count <= maxPhases else {
            throw LossModelError("loss model '\(text)': a schedule needs 1 to \(maxPhases) phases DURATION=MODEL")
        }
        var phases: [LossPhase] = []
        for piece in pieces {
            guard let equals = piece.firstIndex(of: "=") else {
                throw LossModelError("loss model '\(text)': phase '\(piece)' is not DURATION=MODEL")
            }
            let durationText = String(piece[..<equals])
            guard let duration = parseDuration(durationText), duration > 0 else {
                throw LossModelError("loss model '\(text)': phase '\(piece)': '\(durationText)' is not a duration above 0 (such as 500ms, 20s, 2m)")
            }
            let model = try parse(String(piece[piece.index(after: equals)...]), traceLoader: traceLoader)
            if case .schedule = model {
                throw LossModelError("loss model '\(text)': a schedule's phase cannot be a schedule")
            }
            phases.append(LossPhase(durationNanoseconds: duration, model: model))
        }
        return .schedule(phases)
    }

    /// `500ms`, `20s`, `1.5s`, `2m` (minutes) in nanoseconds; nil when it is not one, or above a day.
    static func parseDuration(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value.isFinite, value >= 0 else { return nil }
            let nanoseconds = value * scale
            guard nanoseconds <= 86_400e9 else { return nil }
            return UInt64(nanoseconds.rounded())
        }
        return nil
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
        case .schedule(let phases):
            // Weighted by time: the phases as listed, not the last one's holding on.
            phases.reduce(0) { $0 + Double($1.durationNanoseconds) * $1.model.expectedLossRate }
                / Double(phases.reduce(UInt64(0)) { $0 + $1.durationNanoseconds })
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
        case .schedule(let phases):
            "schedule:" + phases.map { "\(LossPhase.durationText($0.durationNanoseconds))=\($0.model)" }.joined(separator: ",")
        }
    }

    /// Whether the model's losses depend on time (a schedule), so callers must pass it.
    public var isTimed: Bool {
        if case .schedule = self { return true }
        return false
    }
}

/// One phase of a loss schedule.
public struct LossPhase: Sendable, Equatable {
    /// How long the phase lasts.
    public var durationNanoseconds: UInt64
    /// The loss during the phase (never itself a schedule).
    public var model: LossModel

    /// Creates a phase.
    public init(durationNanoseconds: UInt64, model: LossModel) {
        self.durationNanoseconds = durationNanoseconds
        self.model = model
    }

    /// `20s`, `500ms`, `1.5s`: the shortest form `parse` reads back.
    static func durationText(_ nanoseconds: UInt64) -> String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        return "\(Double(nanoseconds) / 1e9)s"
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
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
    /// A schedule's phases, each run by its own process, and when each ends.
    private var phases: [LossProcess] = []
    private var phaseEnds: [UInt64] = []
    private var phase = 0

    /// Starts the model; equal seeds give equal losses.
    public init(model: LossModel, seed: UInt64) {
        self.model = model
        self.random = SplitMix64(seed: seed)
        if case .schedule(let list) = model {
            var end: UInt64 = 0
            for (index, item) in list.enumerated() {
                phases.append(LossProcess(model: item.model, seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
                end = end &+ item.durationNanoseconds
                phaseEnds.append(end)
            }
        }
    }

    /// The schedule's phase at the last packet (0 for a model that is not a schedule).
    public var phaseIndex: Int { phase }

    /// Whether the next packet, offered at `time` nanoseconds after the link's origin
    /// (nondecreasing between calls), is lost. Only a schedule looks at the time.
    public mutating func nextIsLost(at time: UInt64 = 0) -> Bool {
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
        case .schedule:
            while phase < phaseEnds.count - 1 && time >= phaseEnds[phase] { phase += 1 }
            return phases[phase].nextIsLost(at: time)
        }
    }
}
