/// What `runAdaptiveSimulation` runs: two real gateways, a lossy one-way path between them, a
/// steady stream of packets from A to B, and B's loss reports going back to A.
public struct AdaptiveSimulationConfig: Sendable {
    /// The configured code: with `adaptation.mode == .adaptive` the bound of the policy's ladder.
    public var code: FECParameters
    /// The policy's settings (`.fixed` sends `code` throughout, for comparison).
    public var adaptation: AdaptationSettings
    /// Loss from A to B (frames of every type); a `schedule` gives the phases of the report.
    public var loss: LossModel
    /// How long the stream runs, in nanoseconds of virtual time.
    public var durationNanoseconds: UInt64
    /// Bytes per IP packet.
    public var packetSize: Int
    /// IP packets per second.
    public var packetsPerSecond: Double
    /// One-way delay of the path, both directions.
    public var oneWayDelayNanoseconds: UInt64
    /// Time after a phase starts that its steady figures leave out (the policy's reaction time).
    public var settleNanoseconds: UInt64
    /// Seed of the loss process.
    public var seed: UInt64

    /// Creates a configuration.
    public init(
        code: FECParameters, adaptation: AdaptationSettings, loss: LossModel, durationNanoseconds: UInt64,
        packetSize: Int = 1400, packetsPerSecond: Double = 10_000, oneWayDelayNanoseconds: UInt64 = 25_000_000,
        settleNanoseconds: UInt64 = 2_000_000_000, seed: UInt64 = 1
    ) {
        self.code = code
        self.adaptation = adaptation
        self.loss = loss
        self.durationNanoseconds = durationNanoseconds
        self.packetSize = packetSize
        self.packetsPerSecond = packetsPerSecond
        self.oneWayDelayNanoseconds = oneWayDelayNanoseconds
        self.settleNanoseconds = settleNanoseconds
        self.seed = seed
    }
}

/// What one phase of the loss (the whole run when the loss is not a schedule) cost and left.
public struct AdaptivePhaseReport: Sendable, Equatable, Codable {
    /// The phase's loss model, as `LossModel.parse` reads it.
    public var loss: String
    /// When the phase starts and ends, in seconds from the stream's start.
    public var startSeconds: Double
    /// When the phase ends (the run's end for the last phase).
    public var endSeconds: Double
    /// Data packets sent in the phase.
    public var dataPackets: Int
    /// Repairs sent per data packet in the phase.
    public var overhead: Double
    /// Frames (data and repair) the path lost per frame sent in the phase.
    public var measuredLoss: Double
    /// Data packets of the phase never delivered, per data packet.
    public var residualLoss: Double
    /// Data packets of the phase never delivered.
    public var unrecovered: Int
    /// The same figures after the phase's first `settleNanoseconds`.
    public var steadyOverhead: Double
    /// Residual loss after the phase's first `settleNanoseconds`.
    public var steadyResidualLoss: Double
    /// Data packets sent after the phase's first `settleNanoseconds`.
    public var steadyDataPackets: Int
    /// The code A sends at the phase's end.
    public var codeAtEnd: String
    /// Code changes during the phase.
    public var codeSwitches: Int
}

/// The whole run: its phases and totals.
public struct AdaptiveSimulationReport: Sendable, Equatable, Codable {
    /// One entry per phase of the loss schedule (one for a model that is not a schedule).
    public var phases: [AdaptivePhaseReport]
    /// Packets delivered twice or with bytes that were not sent: 0 for a correct gateway.
    public var deliveryErrors: Int
    /// Loss reports A received.
    public var lossReports: Int
}

/// Runs `config` in virtual time through two real `Gateway`s (no sockets, no clock): A encodes
/// with the code its policy picks, the path loses and delays frames, B decodes, measures and
/// reports, and the reports travel back (without loss) to A's policy. Deterministic for a seed.
public func runAdaptiveSimulation(_ config: AdaptiveSimulationConfig) -> AdaptiveSimulationReport {
    let endpointA = Endpoint("198.18.1.1:4500")!
    let endpointB = Endpoint("198.18.2.1:4500")!
    func settings(_ name: String, _ endpoint: Endpoint, _ subnet: String) -> GatewaySettings {
        GatewaySettings(
            peers: [PeerSettings(name: name, endpoint: endpoint, subnets: [IPPrefix(subnet)!])],
            fec: config.code, decoder: DecoderParameters(for: config.code, mode: config.adaptation.mode),
            keepaliveIntervalNanoseconds: 1_000_000_000, peerTimeoutNanoseconds: 3_000_000_000,
            adaptation: config.adaptation)
    }
    let start: UInt64 = 1_000_000
    let a = Gateway(settings: settings("site-b", endpointB, "10.2.0.0/24"), streams: [StreamID(0xA1)], now: start)
    let b = Gateway(settings: settings("site-a", endpointA, "10.1.0.0/24"), streams: [StreamID(0xB2)], now: start)
    let peer = PeerID(0)

    let interval = 1e9 / config.packetsPerSecond
    let packetCount = Int(Double(config.durationNanoseconds) / interval)
    let phaseEnds: [UInt64]
    let phaseModels: [LossModel]
    if case .schedule(let phases) = config.loss {
        var end: UInt64 = 0
        phaseEnds = Array(phases.map { end += $0.durationNanoseconds; return end }.dropLast()) + [UInt64.max]
        phaseModels = phases.map(\.model)
    } else {
        phaseEnds = [.max]
        phaseModels = [config.loss]
    }
    var path = SimulatedPath(
        phaseEnds: phaseEnds, settle: config.settleNanoseconds, start: start, packets: packetCount,
        loss: LossProcess(model: config.loss, seed: config.seed), delay: config.oneWayDelayNanoseconds)

    let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: max(config.packetSize, 36), alignment: 8)
    defer { packet.deallocate() }
    SimulatedPath.writeUDPHeader(packet)

    var now = start
    var next = 0
    var lastCode = a.code(peer: peer)
    var lastPhase = 0
    path.phases[0].code = lastCode.shortDescription
    let end = start + config.durationNanoseconds + 2_000_000_000
    while now < end {
        let sendTime = next < packetCount ? start + UInt64(Double(next) * interval) : UInt64.max
        let arrival = path.nextArrival
        let deadline = min(a.nextDeadline, b.nextDeadline)
        let step = min(sendTime, arrival, deadline, end)
        now = max(now, step)
        path.now = now
        if arrival <= now {
            path.deliverDue(to: a, b, from: endpointA, endpointB)
        } else if sendTime <= now {
            path.phaseCursor(at: now)
            SimulatedPath.stamp(packet, index: next)
            path.sendingA = true
            a.outbound(packet, now: now, into: &path)
            path.noteData(index: next)
            next += 1
        } else {
            path.sendingA = true
            a.tick(now: now, into: &path)
            path.sendingA = false
            b.tick(now: now, into: &path)
        }
        path.phaseCursor(at: now)
        if path.phase != lastPhase {
            for entered in lastPhase + 1...path.phase { path.phases[entered].code = lastCode.shortDescription }
            lastPhase = path.phase
        }
        let code = a.code(peer: peer)
        // After the stream's end (the drain) the code no longer matters.
        if code != lastCode && now <= start + config.durationNanoseconds {
            path.phases[path.phase].switches += 1
            path.phases[path.phase].code = code.shortDescription
            lastCode = code
        }
    }

    var reports: [AdaptivePhaseReport] = []
    for (index, phase) in path.phases.enumerated() {
        let lastStart = index == 0 ? 0 : phaseEnds[index - 1]
        let phaseEnd = min(phaseEnds[index], config.durationNanoseconds)
        guard lastStart < config.durationNanoseconds else { break }
        reports.append(
            AdaptivePhaseReport(
                loss: phaseModels[index].description, startSeconds: Double(lastStart) / 1e9, endSeconds: Double(phaseEnd) / 1e9,
                dataPackets: phase.data, overhead: ratio(phase.repairs, phase.data),
                measuredLoss: ratio(phase.framesLost, phase.framesSent), residualLoss: ratio(path.unrecovered(phase: index, steady: false), phase.data),
                unrecovered: path.unrecovered(phase: index, steady: false),
                steadyOverhead: ratio(phase.steadyRepairs, phase.steadyData),
                steadyResidualLoss: ratio(path.unrecovered(phase: index, steady: true), phase.steadyData),
                steadyDataPackets: phase.steadyData, codeAtEnd: phase.code, codeSwitches: phase.switches))
    }
    return AdaptiveSimulationReport(
        phases: reports, deliveryErrors: path.deliveryErrors, lossReports: Int(a.counters(peer: peer).lossReportsReceived))
}

private func ratio(_ part: Int, _ whole: Int) -> Double { whole == 0 ? 0 : Double(part) / Double(whole) }

/// The path of `runAdaptiveSimulation` and its books: the gateways' output, the delay lines of
/// both directions (FIFO: the delay is constant) and what each phase sent, lost and delivered.
private struct SimulatedPath: GatewayOutput {
    struct Phase {
        var data = 0, repairs = 0, steadyData = 0, steadyRepairs = 0, framesSent = 0, framesLost = 0, switches = 0
        var code = ""
    }
    let phaseEnds: [UInt64]
    let settle: UInt64
    let start: UInt64
    var loss: LossProcess
    let delay: UInt64
    var phases: [Phase]
    var phase = 0
    var now: UInt64 = 0
    var sendingA = false
    var toB: [(arrival: UInt64, bytes: [UInt8])] = []
    var toA: [(arrival: UInt64, bytes: [UInt8])] = []
    var headB = 0, headA = 0
    /// Per data packet: its phase (high bits), steady flag (bit 1), delivered (bit 0).
    var packets: [UInt32]
    var deliveryErrors = 0
    var scratch = [UInt8](repeating: 0, count: 65_536 + WireFormat.sealOverhead)

    init(phaseEnds: [UInt64], settle: UInt64, start: UInt64, packets: Int, loss: LossProcess, delay: UInt64) {
        self.phaseEnds = phaseEnds
        self.settle = settle
        self.start = start
        self.loss = loss
        self.delay = delay
        phases = Array(repeating: Phase(), count: phaseEnds.count)
        self.packets = Array(repeating: 0, count: packets)
    }

    var nextArrival: UInt64 {
        min(headB < toB.count ? toB[headB].arrival : .max, headA < toA.count ? toA[headA].arrival : .max)
    }

    mutating func phaseCursor(at time: UInt64) {
        let elapsed = time - start
        while phase < phaseEnds.count - 1 && elapsed >= phaseEnds[phase] { phase += 1 }
    }

    private var isSteady: Bool {
        let phaseStart = phase == 0 ? 0 : phaseEnds[phase - 1]
        return now - start >= phaseStart + settle
    }

    mutating func noteData(index: Int) {
        packets[index] = UInt32(phase) << 2 | (isSteady ? 2 : 0) | (packets[index] & 1)
    }

    func unrecovered(phase wanted: Int, steady: Bool) -> Int {
        var count = 0
        for entry in packets where Int(entry >> 2) == wanted && entry & 1 == 0 && (!steady || entry & 2 != 0) { count += 1 }
        return count
    }

    mutating func deliverDue(to a: Gateway, _ b: Gateway, from endpointA: Endpoint, _ endpointB: Endpoint) {
        if headB < toB.count && toB[headB].arrival <= now {
            let datagram = toB[headB].bytes
            headB += 1
            sendingA = false
            datagram.withUnsafeBytes { b.inbound($0, from: endpointA, now: now, into: &self) }
        } else if headA < toA.count && toA[headA].arrival <= now {
            let datagram = toA[headA].bytes
            headA += 1
            sendingA = true
            datagram.withUnsafeBytes { a.inbound($0, from: endpointB, now: now, into: &self) }
        }
        if headB > 4096 && headB * 2 > toB.count { toB.removeFirst(headB); headB = 0 }
        if headA > 4096 && headA * 2 > toA.count { toA.removeFirst(headA); headA = 0 }
    }

    mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID) {
        carry(Array(frame))
    }

    mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {
        let length = scratch.withUnsafeMutableBytes { write($0.baseAddress!) }
        carry(Array(scratch[0..<length]))
    }

    private mutating func carry(_ bytes: [UInt8]) {
        guard sendingA else {
            toA.append((now + delay, bytes))
            return
        }
        phaseCursor(at: now)
        let steady = isSteady
        phases[phase].framesSent += 1
        if bytes.count > 1 && bytes[1] == FrameType.repair.rawValue {
            phases[phase].repairs += 1
            if steady { phases[phase].steadyRepairs += 1 }
        } else if bytes.count > 1 && bytes[1] == FrameType.data.rawValue {
            phases[phase].data += 1
            if steady { phases[phase].steadyData += 1 }
        }
        if loss.nextIsLost(at: now - start) {
            phases[phase].framesLost += 1
            return
        }
        toB.append((now + delay, bytes))
    }

    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID) {
        guard packet.count >= 36 else { deliveryErrors += 1; return }
        var index = 0
        for offset in 0..<8 { index |= Int(packet[28 + offset]) << (8 * offset) }
        guard index >= 0 && index < packets.count && packets[index] & 1 == 0 else { deliveryErrors += 1; return }
        packets[index] |= 1
    }

    /// An IPv4 UDP header from 10.1.0.1 to 10.2.0.1 for the whole buffer (UDP checksum 0: none).
    static func writeUDPHeader(_ packet: UnsafeMutableRawBufferPointer) {
        for offset in 0..<packet.count { packet[offset] = 0 }
        let length = packet.count
        let header: [UInt8] = [
            0x45, 0, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0, 0x40, 0, 64, 17, 0, 0,
            10, 1, 0, 1, 10, 2, 0, 1,
        ]
        for (offset, byte) in header.enumerated() { packet[offset] = byte }
        let base = UnsafeMutableRawPointer(packet.baseAddress!)
        base.storeNetworkOrder(InternetChecksum.checksum(InternetChecksum.sum(base, count: 20)), at: 10)
        let udpLength = length - 20
        let udp: [UInt8] = [0x9C, 0x40, 0, 9, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0]
        for (offset, byte) in udp.enumerated() { packet[20 + offset] = byte }
    }

    /// Writes the packet's index into the first bytes of its UDP payload.
    static func stamp(_ packet: UnsafeMutableRawBufferPointer, index: Int) {
        for offset in 0..<8 { packet[28 + offset] = UInt8(truncatingIfNeeded: index >> (8 * offset)) }
    }
}
