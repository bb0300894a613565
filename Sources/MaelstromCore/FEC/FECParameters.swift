/// The shape of the layered-interleaving code: how many data packets per repair, the layers and
/// their interleaves, the largest packet and how long a partly filled bin may wait.
///
/// Layer `j` keeps `interleaves[j]` bins; data packet `x` goes into bin `x mod interleaves[j]`
/// of every layer, and a bin that holds `r` packets yields one repair, so the overhead is `c / r`.
public struct FECParameters: Sendable, Equatable, CustomStringConvertible {
    /// Data packets per repair packet (`r`).
    public var r: Int
    /// Interleave of each layer, strictly increasing; their count is `c`.
    public var interleaves: [Int]
    /// How long the oldest packet of a layer-0 bin may wait before the bin is flushed, in nanoseconds.
    ///
    /// A bin of layer `j` receives a packet only every `interleaves[j]` packets, so its deadline is
    /// scaled by `interleaves[j] / interleaves[0]`: one deadline for every layer would flush the
    /// deep layers with one member each at ordinary rates and multiply the overhead.
    public var flushAfterNanoseconds: UInt64
    /// Largest data packet (an IP packet) the encoder accepts, in bytes.
    public var maxPacketSize: Int

    /// The number of layers (`c`).
    public var c: Int { interleaves.count }

    /// The fraction of extra bytes and packets the repairs add at full bins (`c / r`).
    public var nominalOverhead: Double { Double(c) / Double(r) }

    /// The paper's example: r = 8, c = 3, interleaves (1, 10, 100), 5 ms flush, jumbo-frame packets.
    public static let `default` = FECParameters(
        r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 9000)

    /// The largest `r`: a repair's member count travels in one byte.
    public static let maxR = 255
    /// The largest number of layers a frame can name and a decoder tracks per packet.
    public static let maxLayers = 8
    /// The largest interleave: the stride travels in two bytes.
    public static let maxInterleave = 65_535
    /// The largest data packet: a repair of that size must still fit in one UDP datagram.
    public static let maxPacketSizeLimit = 65_000

    /// Creates parameters without checking them; call `validate()` before use.
    public init(r: Int, interleaves: [Int], flushAfterNanoseconds: UInt64, maxPacketSize: Int) {
        self.r = r
        self.interleaves = interleaves
        self.flushAfterNanoseconds = flushAfterNanoseconds
        self.maxPacketSize = maxPacketSize
    }

    /// The flush deadline of layer `layer`, in nanoseconds.
    public func flushDeadline(layer: Int) -> UInt64 {
        let scale = UInt64(interleaves[layer] / max(interleaves[0], 1))
        return flushAfterNanoseconds &* max(scale, 1)
    }

    /// The longest flush deadline of any layer (the deepest layer's), in nanoseconds.
    public var longestFlushDeadline: UInt64 {
        interleaves.indices.map { flushDeadline(layer: $0) }.max() ?? flushAfterNanoseconds
    }

    /// Checks every rule and returns warnings for legal but weak choices.
    ///
    /// Throws for values the codec cannot run with; warns when two layers' repairs can share more
    /// than one packet (`lcm(I[i], I[j]) ≤ (r - 1) · I[i]`, see `canShareTwo`), which weakens
    /// recovery of packets lost together.
    public func validate() throws(FECParameterError) -> [String] {
        guard r >= 2 && r <= Self.maxR else {
            throw FECParameterError(.rOutOfRange, "r must be between 2 and \(Self.maxR), got \(r)")
        }
        guard !interleaves.isEmpty && interleaves.count <= Self.maxLayers else {
            throw FECParameterError(
                .layerCountOutOfRange, "c (the number of interleaves) must be between 1 and \(Self.maxLayers), got \(interleaves.count)")
        }
        for (layer, interleave) in interleaves.enumerated() {
            guard interleave >= 1 && interleave <= Self.maxInterleave else {
                throw FECParameterError(
                    .interleaveOutOfRange, "interleave of layer \(layer) must be between 1 and \(Self.maxInterleave), got \(interleave)")
            }
            if layer > 0 && interleave <= interleaves[layer - 1] {
                throw FECParameterError(
                    .interleavesNotIncreasing,
                    "interleaves must be strictly increasing, got \(interleaves.map(String.init).joined(separator: ","))")
            }
        }
        guard maxPacketSize >= 1 && maxPacketSize <= Self.maxPacketSizeLimit else {
            throw FECParameterError(
                .packetSizeOutOfRange, "max packet size must be between 1 and \(Self.maxPacketSizeLimit), got \(maxPacketSize)")
        }
        guard flushAfterNanoseconds >= 100_000 && flushAfterNanoseconds <= 10_000_000_000 else {
            throw FECParameterError(
                .flushOutOfRange, "flush deadline must be between 0.1 ms and 10 s, got \(flushAfterNanoseconds) ns")
        }
        // The decoder derived from these parameters must be one that can exist: its window spans
        // twice a deepest-layer repair and its hold-back, (r + 1) · I_max packets.
        let span = (r + 1) * (interleaves.max() ?? 1)
        guard 2 * span <= DecoderParameters.maxWindowPackets else {
            throw FECParameterError(
                .windowOutOfRange,
                "r = \(r) with a deepest interleave of \(interleaves.max() ?? 1) needs a decoder window of \(2 * span) packets, more than the largest (\(DecoderParameters.maxWindowPackets)): (r + 1) · deepest interleave must be at most \(DecoderParameters.maxWindowPackets / 2)")
        }
        var warnings: [String] = []
        for upper in interleaves.indices.dropFirst() {
            for lower in 0..<upper where Self.canShareTwo(r: r, interleaves[lower], interleaves[upper]) {
                let reach = (r - 1) * interleaves[lower]
                let fix = (interleaves[upper]...Self.maxInterleave).first { !Self.canShareTwo(r: r, interleaves[lower], $0) } ?? reach + 1
                warnings.append(
                    "layers \(lower) and \(upper) can share more than one packet (lcm(\(interleaves[lower]), \(interleaves[upper])) = \(Self.lcm(interleaves[lower], interleaves[upper])) ≤ (r-1)·\(interleaves[lower]) = \(reach)): packets lost together may not be rebuilt; use an interleave of \(fix) for layer \(upper), or any whose least common multiple with \(interleaves[lower]) is above \(reach)")
            }
        }
        return warnings
    }

    /// Whether a repair of a layer of interleave `lower` and one of interleave `upper` can cover two
    /// packets in common.
    ///
    /// A bin holds up to `r` packets of one residue class of its interleave, so two of its packets
    /// lie a multiple of the interleave apart and at most `(r - 1)` interleaves. Two packets in one
    /// bin of each layer lie a multiple of both interleaves apart: of their least common multiple,
    /// which must then be within the lower layer's reach. Where bins begin does not matter, so
    /// staggering, flushes and code switches cannot break the rule.
    public static func canShareTwo(r: Int, _ lower: Int, _ upper: Int) -> Bool {
        lcm(lower, upper) <= (r - 1) * min(lower, upper)
    }

    static func lcm(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }

    /// Bytes an encoder with these parameters allocates: one bin per interleave slot of every layer.
    public var encoderMemoryBytes: Int { interleaves.reduce(0, +) * ((maxPacketSize + 63) & ~63) + 64 * interleaves.reduce(0, +) }

    /// A one-line summary such as `r=8 c=3 interleaves=1,10,100 flush=5ms`.
    /// The code in short, `r[interleaves]` (such as `8[1,10,100]`), as tables print it.
    public var shortDescription: String {
        "\(r)[\(interleaves.map(String.init).joined(separator: ","))]"
    }

    public var description: String {
        let flushMs = Double(flushAfterNanoseconds) / 1e6
        return "r=\(r) c=\(c) interleaves=\(interleaves.map(String.init).joined(separator: ",")) flush=\(flushMs)ms max-packet=\(maxPacketSize)"
    }
}

/// Why a set of FEC parameters was refused.
public struct FECParameterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rule that was broken.
    public enum Code: String, Sendable {
        case rOutOfRange = "fec.r"
        case layerCountOutOfRange = "fec.c"
        case interleaveOutOfRange = "fec.interleave"
        case interleavesNotIncreasing = "fec.interleaves-order"
        case packetSizeOutOfRange = "fec.max-packet-size"
        case flushOutOfRange = "fec.flush-after"
        case windowOutOfRange = "fec.window"
    }

    /// The broken rule.
    public let code: Code
    /// A sentence saying what was wrong and what is allowed.
    public let message: String

    /// Creates an error with its code and message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message, prefixed by the code.
    public var description: String { "\(code.rawValue): \(message)" }
}
