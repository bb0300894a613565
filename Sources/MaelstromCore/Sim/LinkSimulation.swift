/// What to simulate: a code, a lossy link, and the traffic sent over it.
public struct SimulationConfig: Sendable {
    /// The code under test.
    public var parameters: FECParameters
    /// How the link loses frames (data and repair alike).
    public var loss: LossModel
    /// Data packets to send.
    public var packets: Int
    /// Size of every data packet, in bytes.
    public var packetSize: Int
    /// Data packets per second, which turns packet counts into time for deadlines and latency.
    public var packetsPerSecond: Double
    /// Seed of the loss process and of the stream identity.
    public var seed: UInt64

    /// Creates a configuration.
    public init(parameters: FECParameters, loss: LossModel, packets: Int, packetSize: Int, packetsPerSecond: Double, seed: UInt64) {
        self.parameters = parameters
        self.loss = loss
        self.packets = packets
        self.packetSize = packetSize
        self.packetsPerSecond = packetsPerSecond
        self.seed = seed
    }
}

/// Percentiles of a latency distribution.
public struct LatencySummary: Sendable, Equatable, Codable {
    /// Median.
    public var p50: Double
    /// 99th percentile.
    public var p99: Double
    /// Largest value.
    public var max: Double

    /// Summarises `values` (nearest-rank percentiles); all zero when empty.
    public init(_ values: [Double]) {
        guard !values.isEmpty else {
            p50 = 0; p99 = 0; max = 0
            return
        }
        let sorted = values.sorted()
        func rank(_ q: Double) -> Double {
            let index = Int((q * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))]
        }
        p50 = rank(0.50)
        p99 = rank(0.99)
        max = sorted[sorted.count - 1]
    }
}

/// What a simulation measured.
public struct SimulationReport: Sendable, Equatable, Codable {
    /// Data packets sent.
    public var dataPackets: Int
    /// Repair packets sent.
    public var repairPackets: Int
    /// Repair packets per data packet sent.
    public var overhead: Double
    /// Data frames the link dropped.
    public var lostData: Int
    /// Repair frames the link dropped.
    public var lostRepairs: Int
    /// Dropped data packets the decoder rebuilt.
    public var recovered: Int
    /// Dropped data packets never delivered.
    public var unrecovered: Int
    /// `unrecovered / dataPackets`.
    public var residualLoss: Double
    /// Packets delivered twice, or delivered with wrong bytes: always 0 for a correct codec.
    public var deliveryErrors: Int
    /// Data packets seen after the lost one by the time it was rebuilt.
    public var recoveryLatencyPackets: LatencySummary
    /// Time from when the lost packet was sent to its rebuild, in milliseconds.
    public var recoveryLatencyMs: LatencySummary
}

extension SimulationReport {
    /// A report from the counts, with the ratios and latency summaries derived from them.
    init(
        dataPackets: Int, repairPackets: Int, lostData: Int, lostRepairs: Int, recovered: Int, unrecovered: Int,
        deliveryErrors: Int, latencyPackets: [Double], latencyMs: [Double]
    ) {
        self.init(
            dataPackets: dataPackets, repairPackets: repairPackets,
            overhead: dataPackets == 0 ? 0 : Double(repairPackets) / Double(dataPackets),
            lostData: lostData, lostRepairs: lostRepairs, recovered: recovered, unrecovered: unrecovered,
            residualLoss: dataPackets == 0 ? 0 : Double(unrecovered) / Double(dataPackets), deliveryErrors: deliveryErrors,
            recoveryLatencyPackets: LatencySummary(latencyPackets), recoveryLatencyMs: LatencySummary(latencyMs))
    }
}

/// Runs the real encoder and decoder over a simulated lossy link in virtual time.
///
/// The link keeps order and adds no delay; frames are lost by the loss model in the order the
/// encoder emits them. After the last packet, virtual time runs on until every bin has been
/// flushed, as it would on a live link, and then past the decoder's hold time.
public func runSimulation(_ config: SimulationConfig) -> SimulationReport {
    var random = SplitMix64(seed: config.seed ^ 0x5EED_5EED)
    let encoder = LayeredEncoder(parameters: config.parameters, stream: StreamID(UInt32(truncatingIfNeeded: random.next()) | 1))
    let decoder = LayeredDecoder(parameters: DecoderParameters(for: config.parameters))
    let interval = 1e9 / config.packetsPerSecond
    var link = SimulatedLink(
        decoder: decoder, loss: LossProcess(model: config.loss, seed: config.seed), packets: config.packets,
        intervalNanoseconds: interval, maxFrame: config.parameters.maxPacketSize + WireFormat.maxHeaderSize)
    let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: config.packetSize, alignment: 8)
    defer { packet.deallocate() }
    packet.initializeMemory(as: UInt8.self, repeating: 0xA5)

    for index in 0..<config.packets {
        let now = UInt64(Double(index) * interval)
        link.now = now
        SimulatedLink.stamp(packet, sequence: UInt64(index))
        encoder.tick(now: now, into: &link)
        decoder.tick(now: now)
        encoder.encode(UnsafeRawBufferPointer(packet), now: now, into: &link)
    }
    // The stream has ended; a live gateway's clock keeps running and flushes the partial bins.
    var now = UInt64(Double(config.packets) * interval)
    while let deadline = encoder.nextDeadline {
        now = max(now, deadline)
        link.now = now
        encoder.tick(now: now, into: &link)
    }
    link.now = now &+ decoder.parameters.holdNanoseconds
    decoder.tick(now: link.now)
    decoder.finish()
    defer { link.release() }
    return link.report(encoder: encoder)
}

/// The link of `runSimulation`: loses frames and feeds the rest to the decoder.
struct SimulatedLink: FrameSink {
    let decoder: LayeredDecoder
    var loss: LossProcess
    let recorder: DeliveryRecorder
    let frame: UnsafeMutableRawBufferPointer
    var lostData = 0
    var lostRepairs = 0
    var repairs = 0

    var now: UInt64 {
        get { recorder.now }
        nonmutating set { recorder.now = newValue }
    }

    init(decoder: LayeredDecoder, loss: LossProcess, packets: Int, intervalNanoseconds: Double, maxFrame: Int) {
        self.decoder = decoder
        self.loss = loss
        self.recorder = DeliveryRecorder(packets: packets, intervalNanoseconds: intervalNanoseconds)
        frame = .allocate(byteCount: maxFrame, alignment: 8)
    }

    func release() {
        frame.deallocate()
    }

    /// Writes a value derived from the packet's index into its first bytes, so deliveries can be checked.
    static func stamp(_ packet: UnsafeMutableRawBufferPointer, sequence: UInt64) {
        var value = sequence &* 0x9E37_79B9_7F4A_7C15
        for offset in 0..<min(8, packet.count) {
            packet[offset] = UInt8(truncatingIfNeeded: value)
            value >>= 8
        }
    }

    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
        if kind == .repair { repairs += 1 }
        if loss.nextIsLost(at: now) {
            if kind == .data { lostData += 1 } else { lostRepairs += 1 }
            return
        }
        let base = frame.baseAddress!
        let headerEnd = WireFormat.envelopeSize + header.count
        (base + WireFormat.envelopeSize).copyMemory(from: header.baseAddress!, byteCount: header.count)
        (base + headerEnd).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        WireFormat.writePlaintextEnvelope(base, type: kind == .data ? .data : .repair, lane: 0)
        var sink = RecorderSink(recorder: recorder)
        decoder.receive(
            datagram: UnsafeRawBufferPointer(start: base, count: headerEnd + payload.count), now: now, into: &sink)
    }

    func report(encoder: LayeredEncoder) -> SimulationReport {
        let packets = recorder.packets
        var deliveredCount = 0
        for index in 0..<packets where recorder.delivered[index] { deliveredCount += 1 }
        return SimulationReport(
            dataPackets: packets, repairPackets: repairs, lostData: lostData, lostRepairs: lostRepairs,
            recovered: recorder.latencyPackets.count, unrecovered: packets - deliveredCount,
            deliveryErrors: recorder.deliveryErrors, latencyPackets: recorder.latencyPackets, latencyMs: recorder.latencyMs)
    }
}

/// Checks every delivery of a simulation (once each, right bytes) and records recovery latency.
final class DeliveryRecorder {
    let packets: Int
    let intervalNanoseconds: Double
    var now: UInt64 = 0
    var delivered: [Bool]
    var deliveryErrors = 0
    var latencyPackets: [Double] = []
    var latencyMs: [Double] = []

    init(packets: Int, intervalNanoseconds: Double) {
        self.packets = packets
        self.intervalNanoseconds = intervalNanoseconds
        delivered = Array(repeating: false, count: packets)
    }

    func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        // The decoder numbers a new stream from 2³²; the simulation's packet index is the rest.
        let index = Int(truncatingIfNeeded: sequence &- (1 << 32))
        guard index >= 0, index < packets, !delivered[index] else {
            deliveryErrors += 1
            return
        }
        delivered[index] = true
        let expected = UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        for offset in 0..<min(8, packet.count)
        where packet[offset] != UInt8(truncatingIfNeeded: expected >> (8 * UInt64(offset))) {
            deliveryErrors += 1
            break
        }
        if let recovery {
            latencyPackets.append(Double(recovery.latencyPackets))
            let sent = Double(index) * intervalNanoseconds
            latencyMs.append(max(0, Double(now) - sent) / 1e6)
        }
    }
}

struct RecorderSink: PacketSink {
    let recorder: DeliveryRecorder
    func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        recorder.deliver(packet, sequence: sequence, recovery: recovery)
    }
}
