/// An ideal erasure block code of `dataPackets` + `parityPackets` frames, the yardstick layered
/// interleaving is compared with (issue #11, the recovery figure).
///
/// It is a model, not a codec: it is maximum-distance separable, so any `dataPackets` frames of a
/// block rebuild all of it, which is exactly what a Reed-Solomon code achieves (over GF(2⁸) up to
/// 255 frames a block, over GF(2¹⁶) beyond). Nothing in the gateway sends it.
public struct BlockCode: Sendable, Equatable, CustomStringConvertible {
    /// Data packets per block (k).
    public let dataPackets: Int
    /// Parity packets sent after each block's data (n − k).
    public let parityPackets: Int

    /// Frames a block may hold, data and parity together (what a GF(2¹⁶) Reed-Solomon code allows).
    public static let maxBlockFrames = 65_535

    /// A code of `dataPackets` data and `parityPackets` parity frames a block.
    public init(dataPackets: Int, parityPackets: Int) throws(BlockCodeError) {
        guard dataPackets >= 1, parityPackets >= 1 else {
            throw BlockCodeError("a block code needs at least one data and one parity packet, got \(dataPackets),\(parityPackets)")
        }
        guard dataPackets + parityPackets <= Self.maxBlockFrames else {
            throw BlockCodeError("a block holds at most \(Self.maxBlockFrames) frames, got \(dataPackets) + \(parityPackets)")
        }
        self.dataPackets = dataPackets
        self.parityPackets = parityPackets
    }

    /// Reads `K,H` (data and parity packets a block).
    public static func parse(_ text: String) throws(BlockCodeError) -> BlockCode {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let h = Int(parts[1]) else {
            throw BlockCodeError("a block code is K,H (data and parity packets a block), got '\(text)'")
        }
        return try BlockCode(dataPackets: k, parityPackets: h)
    }

    /// Parity packets per data packet.
    public var overhead: Double { Double(parityPackets) / Double(dataPackets) }

    public var description: String { "block \(dataPackets)+\(parityPackets) (ideal MDS, Reed-Solomon-like)" }
}

/// A block code that cannot be built, with the reason in one line.
public struct BlockCodeError: Error, Equatable, Sendable {
    /// What is wrong.
    public let message: String
    init(_ message: String) { self.message = message }
}

/// What to simulate with a block code: the code, the link's losses and the traffic.
public struct BlockCodeSimulationConfig: Sendable {
    /// The code under test.
    public var code: BlockCode
    /// How the link loses frames (data and parity alike, in the order they are sent).
    public var loss: LossModel
    /// Data packets to send.
    public var packets: Int
    /// Data packets per second, which turns packet counts into time.
    public var packetsPerSecond: Double
    /// Seed of the loss process.
    public var seed: UInt64

    /// Creates a configuration.
    public init(code: BlockCode, loss: LossModel, packets: Int, packetsPerSecond: Double, seed: UInt64) {
        self.code = code
        self.loss = loss
        self.packets = packets
        self.packetsPerSecond = packetsPerSecond
        self.seed = seed
    }
}

/// Runs an ideal block code over the same simulated link as `runSimulation`, with the same
/// conventions, so their reports compare directly.
///
/// Data packets leave at the configured rate and are delivered as they arrive (the code is
/// systematic). A block closes with its `dataPackets`-th packet (the last block with the stream's
/// last packet) and its parity leaves at that instant, back to back, as the layered encoder's repairs
/// do when a bin fills; the link has no rate, which favours the block code. A lost packet is rebuilt
/// by the parity frame that brings the block's arrivals up to its data count; latency is measured
/// from the lost packet's send time, as in `runSimulation`.
public func runBlockCodeSimulation(_ config: BlockCodeSimulationConfig) -> SimulationReport {
    let interval = 1e9 / config.packetsPerSecond
    func sendTime(_ index: Int) -> UInt64 { UInt64(Double(index) * interval) }
    var loss = LossProcess(model: config.loss, seed: config.seed)
    let k = config.code.dataPackets
    var lostInBlock: [Int] = []
    lostInBlock.reserveCapacity(k)
    var lostData = 0, lostRepairs = 0, repairs = 0, recovered = 0
    var latencyPackets: [Double] = []
    var latencyMs: [Double] = []

    var blockStart = 0
    while blockStart < config.packets {
        let count = min(k, config.packets - blockStart)
        lostInBlock.removeAll(keepingCapacity: true)
        for index in blockStart..<(blockStart + count) where loss.nextIsLost(at: sendTime(index)) {
            lostInBlock.append(index)
        }
        let last = blockStart + count - 1
        let closed = sendTime(last)
        // A short last block is a shorter code (zero padding): it needs `count` frames, not k.
        var missing = lostInBlock.count
        for _ in 0..<config.code.parityPackets {
            repairs += 1
            if loss.nextIsLost(at: closed) {
                lostRepairs += 1
            } else if missing > 0 {
                missing -= 1
            }
        }
        lostData += lostInBlock.count
        if missing == 0 {
            for index in lostInBlock {
                recovered += 1
                latencyPackets.append(Double(last - index))
                latencyMs.append(Double(closed - sendTime(index)) / 1e6)
            }
        }
        blockStart += count
    }
    // No bytes move, so nothing can be delivered wrong.
    return SimulationReport(
        dataPackets: config.packets, repairPackets: repairs, lostData: lostData, lostRepairs: lostRepairs,
        recovered: recovered, unrecovered: lostData - recovered, deliveryErrors: 0,
        latencyPackets: latencyPackets, latencyMs: latencyMs)
}
