/// What an encoder has done since it started.
public struct EncoderCounters: Sendable, Equatable {
    /// Data frames emitted.
    public var dataFrames: UInt64 = 0
    /// Packet bytes in those data frames (headers excluded).
    public var dataBytes: UInt64 = 0
    /// Repair frames emitted.
    public var repairFrames: UInt64 = 0
    /// Payload bytes in those repair frames (headers excluded).
    public var repairBytes: UInt64 = 0
    /// Repairs emitted by the flush deadline or a final flush before their bin was full.
    public var partialRepairs: UInt64 = 0
    /// Packets refused: empty or larger than `maxPacketSize`.
    public var rejectedPackets: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Adds `other`'s counts (an encoder replaced by another of the same stream).
    public mutating func add(_ other: EncoderCounters) {
        dataFrames &+= other.dataFrames
        dataBytes &+= other.dataBytes
        repairFrames &+= other.repairFrames
        repairBytes &+= other.repairBytes
        partialRepairs &+= other.partialRepairs
        rejectedPackets &+= other.rejectedPackets
    }
}

/// The send side of layered interleaving: numbers packets, emits them, and emits XOR repairs.
///
/// Each data packet is XORed into one bin per layer. A bin that reaches its size is not sent at
/// once: it goes out just before the next packet enters it (`interleave` packets later), so a
/// burst that takes a packet rarely takes its repair too (reference §3). A bin whose oldest
/// member is older than its layer's deadline is flushed partly filled, so the tail of a burst of
/// traffic and slow traffic are protected too. Time is an input; nothing here reads a clock.
///
/// Not thread-safe: owned by one thread. Allocates only in `init`.
public final class LayeredEncoder {
    /// The code's parameters.
    public let parameters: FECParameters
    /// This encoder's stream identity (pick a random one at each start).
    public let stream: StreamID
    /// What has been done so far.
    public private(set) var counters = EncoderCounters()
    /// The wire number of this encoder's first layer.
    public let firstLayer: Int
    /// The 64-bit sequence number the next data packet gets (its low 32 bits go on the wire).
    public private(set) var nextSequence: UInt64

    private struct Bin {
        var firstSequence: UInt64 = 0
        var oldest: UInt64 = 0
        var count: Int32 = 0
        var fireAt: Int32 = 0
        var staggeredFireAt: Int32 = 0
        var length: Int32 = 0
        var lengthXor: UInt16 = 0
    }

    private struct Layer {
        var firstBin: Int
        var interleave: Int
        var cursor: Int
        var deadline: UInt64
    }

    private let binCount: Int
    private let binStride: Int
    private let binBytes: UnsafeMutableRawPointer
    private let bins: UnsafeMutablePointer<Bin>
    private let layers: UnsafeMutablePointer<Layer>
    private let layerCount: Int
    private let maxPacketSize: Int
    private let header: UnsafeMutableRawPointer
    // The bins a packet goes into, one per layer, XORed in one pass.
    private let targets: UnsafeMutablePointer<UnsafeMutableRawPointer>
    // No later than the earliest bin deadline (it may be earlier: bins that filled leave it stale).
    private var earliestDeadline: UInt64 = .max

    /// Creates an encoder; `parameters` must have passed `validate()`.
    ///
    /// `initialSequence` is 0 for a new stream; tests pass values near 2³² to exercise wrap-around.
    ///
    /// `firstLayer` numbers the layers on the wire from there (`firstLayer + c ≤ FECParameters.maxLayers`):
    /// an encoder that replaces another mid-stream uses other numbers, so the decoder never takes
    /// a repair of the new code for a copy of one of the old code's waiting for the same packet.
    public init(parameters: FECParameters, stream: StreamID, initialSequence: UInt64 = 0, firstLayer: Int = 0) {
        precondition(firstLayer >= 0 && firstLayer + parameters.c <= FECParameters.maxLayers, "layer numbers beyond the wire's")
        self.firstLayer = firstLayer
        self.parameters = parameters
        self.stream = stream
        self.nextSequence = initialSequence
        self.maxPacketSize = parameters.maxPacketSize
        self.layerCount = parameters.c
        self.binCount = parameters.interleaves.reduce(0, +)
        self.binStride = (parameters.maxPacketSize + 63) & ~63
        self.binBytes = UnsafeMutableRawPointer.allocate(byteCount: binCount * binStride, alignment: 64)
        binBytes.initializeMemory(as: UInt8.self, repeating: 0, count: binCount * binStride)
        self.bins = .allocate(capacity: binCount)
        self.layers = .allocate(capacity: parameters.c)
        self.header = .allocate(byteCount: 64, alignment: 16)
        self.targets = .allocate(capacity: parameters.c)
        targets.initialize(repeating: binBytes, count: parameters.c)
        var firstBin = 0
        for (index, interleave) in parameters.interleaves.enumerated() {
            layers.advanced(by: index).initialize(
                to: Layer(
                    firstBin: firstBin, interleave: interleave, cursor: Int(initialSequence % UInt64(interleave)),
                    deadline: parameters.flushDeadline(layer: index)))
            for bin in 0..<interleave {
                // Staggered start (reference §3): bin b first fires at (b mod r) + 1 members so
                // the bins of a layer do not all fill, and send, together.
                let stagger = Int32(bin % parameters.r + 1)
                bins.advanced(by: firstBin + bin).initialize(to: Bin(fireAt: stagger, staggeredFireAt: stagger))
            }
            firstBin += interleave
        }
    }

    deinit {
        binBytes.deallocate()
        bins.deinitialize(count: binCount)
        bins.deallocate()
        layers.deinitialize(count: layerCount)
        layers.deallocate()
        header.deallocate()
        targets.deallocate()
    }

    /// The time by which `tick` must next be called, or nil when no bin holds a packet.
    public var nextDeadline: UInt64? { earliestDeadline == .max ? nil : earliestDeadline }

    /// Whether some bin holds packets not yet covered by a sent repair.
    public var hasPendingBins: Bool {
        for index in 0..<binCount where bins[index].count > 0 { return true }
        return false
    }

    /// Numbers `packet`, emits the repairs of full bins it is about to enter, then its data frame.
    ///
    /// Returns false, and emits nothing, for an empty packet or one over `maxPacketSize`.
    @discardableResult
    public func encode<Sink: FrameSink>(_ packet: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink) -> Bool {
        let length = packet.count
        guard length >= 1, length <= maxPacketSize, let source = packet.baseAddress else {
            counters.rejectedPackets &+= 1
            return false
        }
        let sequence = nextSequence
        for layerIndex in 0..<layerCount {
            let layer = layers.advanced(by: layerIndex)
            let binIndex = layer.pointee.firstBin &+ layer.pointee.cursor
            layer.pointee.cursor = layer.pointee.cursor &+ 1 == layer.pointee.interleave ? 0 : layer.pointee.cursor &+ 1
            let bin = bins.advanced(by: binIndex)
            if bin.pointee.count > 0 && bin.pointee.count >= bin.pointee.fireAt {
                emitRepair(binIndex: binIndex, layerIndex: layerIndex, into: &sink)
            }
            if bin.pointee.count == 0 {
                bin.pointee.firstSequence = sequence
                bin.pointee.oldest = now
                let deadline = now.saturatingAdd(layer.pointee.deadline)
                if deadline < earliestDeadline { earliestDeadline = deadline }
            }
            targets[layerIndex] = binBytes.advanced(by: binIndex &* binStride)
            if Int32(length) > bin.pointee.length { bin.pointee.length = Int32(length) }
            bin.pointee.lengthXor ^= UInt16(truncatingIfNeeded: length)
            bin.pointee.count &+= 1
        }
        xorBytes(intoEach: targets, targetCount: layerCount, from: source, count: length)
        nextSequence = sequence &+ 1
        DataFrameHeader(stream: stream, sequence: UInt32(truncatingIfNeeded: sequence)).write(to: header)
        counters.dataFrames &+= 1
        counters.dataBytes &+= UInt64(length)
        sink.emit(
            header: UnsafeRawBufferPointer(start: header, count: WireFormat.dataHeaderSize), payload: packet, kind: .data)
        return true
    }

    /// Flushes every bin whose oldest member has waited past its layer's deadline.
    public func tick<Sink: FrameSink>(now: UInt64, into sink: inout Sink) {
        guard now >= earliestDeadline else { return }
        var earliest = UInt64.max
        for layerIndex in 0..<layerCount {
            let layer = layers[layerIndex]
            for binIndex in layer.firstBin..<(layer.firstBin + layer.interleave) {
                let bin = bins.advanced(by: binIndex)
                guard bin.pointee.count > 0 else { continue }
                let deadline = bin.pointee.oldest.saturatingAdd(layer.deadline)
                if deadline <= now {
                    emitRepair(binIndex: binIndex, layerIndex: layerIndex, into: &sink)
                } else if deadline < earliest {
                    earliest = deadline
                }
            }
        }
        earliestDeadline = earliest
    }

    /// For an encoder being replaced mid-stream: moves every layer on by one packet, as if the
    /// next packet (which goes to the new encoder) had passed through, emitting the repair of a
    /// bin it would have entered. Called once per packet sent after a switch, it sends each
    /// repair where it would have gone anyway, and every bin is empty after `interleaves.max()`
    /// calls: no burst of repairs, and none so late that its members have left the peer's window.
    /// Returns whether bins still hold packets.
    @discardableResult
    public func drainStep<Sink: FrameSink>(into sink: inout Sink) -> Bool {
        var pending = false
        for layerIndex in 0..<layerCount {
            let layer = layers.advanced(by: layerIndex)
            let binIndex = layer.pointee.firstBin &+ layer.pointee.cursor
            layer.pointee.cursor = layer.pointee.cursor &+ 1 == layer.pointee.interleave ? 0 : layer.pointee.cursor &+ 1
            if bins[binIndex].count > 0 { emitRepair(binIndex: binIndex, layerIndex: layerIndex, into: &sink) }
            if !pending {
                // Bins after the cursor still to be visited in this layer.
                var index = layer.pointee.firstBin
                while index < layer.pointee.firstBin &+ layer.pointee.interleave {
                    if bins[index].count > 0 { pending = true; break }
                    index &+= 1
                }
            }
        }
        return pending
    }

    /// Emits the repair of every bin that holds packets, e.g. at shutdown or the end of a stream.
    public func flush<Sink: FrameSink>(into sink: inout Sink) {
        for layerIndex in 0..<layerCount {
            let layer = layers[layerIndex]
            for binIndex in layer.firstBin..<(layer.firstBin + layer.interleave) where bins[binIndex].count > 0 {
                emitRepair(binIndex: binIndex, layerIndex: layerIndex, into: &sink)
            }
        }
        earliestDeadline = .max
    }

    private func emitRepair<Sink: FrameSink>(binIndex: Int, layerIndex: Int, into sink: inout Sink) {
        let bin = bins.advanced(by: binIndex)
        let layer = layers[layerIndex]
        let payload = binBytes.advanced(by: binIndex &* binStride)
        let length = Int(bin.pointee.length)
        let reachedSize = bin.pointee.count >= bin.pointee.fireAt
        RepairFrameHeader(
            stream: stream,
            firstSequence: UInt32(truncatingIfNeeded: bin.pointee.firstSequence),
            stride: UInt16(truncatingIfNeeded: layer.interleave),
            layer: UInt8(truncatingIfNeeded: firstLayer &+ layerIndex),
            count: UInt8(truncatingIfNeeded: bin.pointee.count),
            lengthXor: bin.pointee.lengthXor
        ).write(to: header)
        counters.repairFrames &+= 1
        counters.repairBytes &+= UInt64(length)
        if !reachedSize { counters.partialRepairs &+= 1 }
        sink.emit(
            header: UnsafeRawBufferPointer(start: header, count: WireFormat.repairHeaderSize),
            payload: UnsafeRawBufferPointer(start: payload, count: length), kind: .repair)
        payload.initializeMemory(as: UInt8.self, repeating: 0, count: length)
        bin.pointee.count = 0
        bin.pointee.length = 0
        bin.pointee.lengthXor = 0
        // A bin cut short by the deadline starts its next fill staggered again, so traffic that
        // resumes after a pause does not make every bin fire at once.
        bin.pointee.fireAt = reachedSize ? Int32(parameters.r) : bin.pointee.staggeredFireAt
    }
}
