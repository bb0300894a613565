/// The receive side of layered interleaving: delivers every packet once, rebuilding lost ones.
///
/// Originals are delivered as they arrive; a lost packet is rebuilt as soon as some repair misses
/// only it, and each rebuilt packet is XORed into the other repairs waiting for it, which may
/// complete them in turn (peeling across layers). Repairs missing two or more members are kept
/// reduced to the XOR of their missing members, so every packet is XORed into a waiting repair
/// once. Memory is fixed at creation: a window of `windowPackets` sequence numbers and a pool
/// of `repairCapacity` waiting repairs.
///
/// Which sender stream is decoded is decided by a `StreamLifecycle` (see there): no single
/// datagram can make the decoder switch streams or jump far ahead. Switching streams costs O(1):
/// every stream gets 64-bit sequence numbers of its own, so the old stream's slots and repairs are
/// simply never matched again and are reused as the new stream reaches them.
///
/// Not thread-safe: owned by one thread. Allocates only in `init`.
public final class LayeredDecoder {
    /// The limits this decoder was created with.
    public let parameters: DecoderParameters
    /// What has happened so far.
    public internal(set) var counters = DecoderCounters()

    enum SlotState: UInt8 { case empty, missing, present }

    struct Slot {
        var sequence: UInt64 = 0
        // For a missing packet, when it was noticed missing; for a present one, when it came.
        var time: UInt64 = 0
        var length: Int32 = 0
        var state: SlotState = .empty
    }

    struct PendingRepair {
        var first: UInt64 = 0
        var stride: UInt64 = 0
        var count: Int32 = 0
        var layer: Int32 = 0
        var payloadLength: Int32 = 0
        var missing: Int32 = 0
        var lengthXor: UInt16 = 0
        var inUse = false
    }

    static let layers = FECParameters.maxLayers
    static let noRepair: Int32 = -1
    // 64-bit sequence numbers of the first stream start here, so that packets sent before the
    // first one seen still have a place below it; each later stream starts 2³³ or more above.
    static let sequenceBase: UInt64 = 1 << 32

    let window: UInt64
    let mask: UInt64
    let stride: Int
    let maxPacketSize: Int
    let slots: UnsafeMutablePointer<Slot>
    let slotBytes: UnsafeMutableRawPointer
    // waiters[slot * layers + layer]: the pending repair of that layer still missing this packet.
    let waiters: UnsafeMutablePointer<Int32>
    // Bit `layer` of waiterMasks[slot] is set while waiters[slot * layers + layer] holds a repair.
    let waiterMasks: UnsafeMutablePointer<UInt8>
    let repairCapacity: Int
    let repairs: UnsafeMutablePointer<PendingRepair>
    let repairBytes: UnsafeMutableRawPointer
    let freeRepairs: UnsafeMutablePointer<Int32>
    var freeRepairCount: Int
    // Repairs that have come down to one missing member, waiting to be turned into a packet.
    let work: UnsafeMutablePointer<Int32>
    var workCount = 0

    // Which stream is followed, and the candidates and retired streams around it.
    var lifecycle: StreamLifecycle
    let held: HeldFrames
    // Room to write a held frame's header back into bytes.
    let scratchHeader: UnsafeMutableRawPointer
    var everStarted = false
    var streamStart: UInt64 = 0
    // Tracked sequence numbers are tail...head; below firstSeen the stream may have been decoded
    // by an earlier incarnation of this gateway, so repairs reaching there are not used; below
    // deliverFrom (a stream resumed after being left) its packets were delivered already.
    var head: UInt64 = 0
    var tail: UInt64 = 1
    var firstSeen: UInt64 = 0
    var deliverFrom: UInt64 = 0
    // Slots of the current stream marked missing and not yet given up or filled.
    var missingCount: UInt64 = 0
    // The sender's own word (its keepalive) on how far its stream has got, 0 when none.
    var horizon: UInt64 = 0
    // Frames far beyond the window, counted until enough agree with each other.
    var jumpAnchor: UInt64 = 0
    var jumpCount = 0

    /// Creates a decoder; `parameters` must have passed `validate()`.
    public init(parameters: DecoderParameters) {
        self.parameters = parameters
        self.window = UInt64(parameters.windowPackets)
        self.mask = UInt64(parameters.windowPackets - 1)
        self.stride = (parameters.maxPacketSize + 63) & ~63
        self.maxPacketSize = parameters.maxPacketSize
        self.repairCapacity = parameters.repairCapacity
        slots = .allocate(capacity: parameters.windowPackets)
        slots.initialize(repeating: Slot(), count: parameters.windowPackets)
        slotBytes = .allocate(byteCount: parameters.windowPackets * stride, alignment: 64)
        // Touched now, not on the packet path: first-touch page faults in the first window of
        // traffic would cost more than the decoding itself.
        slotBytes.initializeMemory(as: UInt8.self, repeating: 0, count: parameters.windowPackets * stride)
        waiters = .allocate(capacity: parameters.windowPackets * Self.layers)
        waiters.initialize(repeating: Self.noRepair, count: parameters.windowPackets * Self.layers)
        waiterMasks = .allocate(capacity: parameters.windowPackets)
        waiterMasks.initialize(repeating: 0, count: parameters.windowPackets)
        repairs = .allocate(capacity: parameters.repairCapacity)
        repairs.initialize(repeating: PendingRepair(), count: parameters.repairCapacity)
        repairBytes = .allocate(byteCount: parameters.repairCapacity * stride, alignment: 64)
        repairBytes.initializeMemory(as: UInt8.self, repeating: 0, count: parameters.repairCapacity * stride)
        freeRepairs = .allocate(capacity: parameters.repairCapacity)
        for index in 0..<parameters.repairCapacity {
            freeRepairs[index] = Int32(parameters.repairCapacity - 1 - index)
        }
        freeRepairCount = parameters.repairCapacity
        work = .allocate(capacity: parameters.repairCapacity)
        let confirmation = parameters.streamConfirmation
        lifecycle = StreamLifecycle(
            confirmationFrames: confirmation.frames, silenceNanoseconds: confirmation.silenceNanoseconds,
            window: parameters.windowPackets, candidateCapacity: StreamConfirmation.candidates)
        held = HeldFrames(
            candidates: StreamConfirmation.candidates, framesPerCandidate: confirmation.frames,
            maxFrameSize: parameters.maxPacketSize + WireFormat.maxHeaderSize)
        scratchHeader = .allocate(byteCount: 64, alignment: 16)
    }

    deinit {
        slots.deinitialize(count: Int(window))
        slots.deallocate()
        slotBytes.deallocate()
        waiters.deallocate()
        waiterMasks.deallocate()
        repairs.deinitialize(count: repairCapacity)
        repairs.deallocate()
        repairBytes.deallocate()
        freeRepairs.deallocate()
        work.deallocate()
        scratchHeader.deallocate()
    }

    /// The stream being decoded, if one has been confirmed.
    public var currentStream: StreamID? { lifecycle.current }

    /// The highest sequence number (64-bit, relative to this decoder) seen so far in the stream.
    public var highestSequence: UInt64? { lifecycle.current == nil ? nil : head }

    /// Repairs now waiting for a second-to-last member.
    public var pendingRepairs: Int { repairCapacity - freeRepairCount }

    /// When `tick` would next give something up, or nil when nothing is tracked.
    public var nextDeadline: UInt64? {
        guard lifecycle.current != nil, tail <= head else { return nil }
        let slot = slots[Int(tail & mask)]
        let since = slot.sequence == tail && slot.state != .empty ? slot.time : streamStart
        return since.saturatingAdd(parameters.holdNanoseconds)
    }

    // MARK: Frames in

    /// Parses one plaintext datagram (envelope and frame) and handles it; malformed input is
    /// counted, never trapped on. The sender's lane is not looked at: one decoder is one lane's.
    public func receive<Sink: PacketSink>(datagram: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink) {
        do {
            switch try Frame.parse(datagram).frame {
            case .data(let header, let payload): receiveData(header, payload: payload, now: now, into: &sink)
            case .repair(let header, let payload): receiveRepair(header, payload: payload, now: now, into: &sink)
            case .keepalive(let keepalive): receiveKeepalive(keepalive, now: now, into: &sink)
            case .lossReport: break  // for the sender's policy, not the decoder
            }
        } catch {
            counters.malformed &+= 1
        }
    }

    /// Handles a data frame: delivers its packet unless it is a duplicate, too late, or of a stream
    /// not (yet) followed.
    public func receiveData<Sink: PacketSink>(
        _ header: DataFrameHeader, payload: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink
    ) {
        guard payload.count >= 1, payload.count <= maxPacketSize, payload.baseAddress != nil else {
            counters.malformed &+= 1
            return
        }
        let admitted = admit(header.stream, sequence: header.sequence, now: now, into: &sink) { candidate in
            header.write(to: scratchHeader)
            return held.hold(
                candidate, type: .data, header: UnsafeRawBufferPointer(start: scratchHeader, count: WireFormat.dataHeaderSize),
                payload: payload)
        }
        guard admitted else { return }
        decodeData(header.sequence, payload: payload, now: now, into: &sink)
    }

    /// Handles a repair frame: rebuilds its one missing member, or keeps it for later.
    public func receiveRepair<Sink: PacketSink>(
        _ header: RepairFrameHeader, payload: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink
    ) {
        let count = Int(header.count)
        guard count >= 1, header.stride >= 1, Int(header.layer) < Self.layers, payload.count >= 1,
            payload.count <= maxPacketSize, UInt64(count - 1) &* UInt64(header.stride) < window,
            payload.baseAddress != nil
        else {
            counters.malformed &+= 1
            return
        }
        let admitted = admit(header.stream, sequence: header.firstSequence, now: now, into: &sink) { candidate in
            header.write(to: scratchHeader)
            return held.hold(
                candidate, type: .repair, header: UnsafeRawBufferPointer(start: scratchHeader, count: WireFormat.repairHeaderSize),
                payload: payload)
        }
        guard admitted else { return }
        decodeRepair(header, payload: payload, now: now, into: &sink)
    }

    /// Whether a repair with `header` can only be thrown away: it belongs to the current stream
    /// and every member is already here. Reads only, so a sealed repair can be skipped before it
    /// is authenticated (a forged header can at most make a needed repair be skipped, which an
    /// attacker on the path could do by dropping it anyway).
    public func isRedundant(_ header: RepairFrameHeader) -> Bool {
        guard let current = lifecycle.current, header.stream == current, header.count >= 1, header.stride >= 1 else { return false }
        let first = extend(header.firstSequence)
        let stride = UInt64(header.stride)
        let last = first &+ UInt64(header.count - 1) &* stride
        guard first >= tail, first >= firstSeen, last <= head, last >= first else { return false }
        var member = first
        for _ in 0..<Int(header.count) {
            let slot = slots[Int(member & mask)]
            guard slot.sequence == member, slot.state == .present else { return false }
            member &+= stride
        }
        return true
    }

    /// Handles the sender's keepalive: it confirms the stream the sender names (when it is fresh)
    /// and says how far that stream has got, which lets a far jump ahead be taken at once.
    public func receiveKeepalive<Sink: PacketSink>(_ keepalive: KeepaliveFrame, now: UInt64, into sink: inout Sink) {
        counters.keepalives &+= 1
        let verdict = lifecycle.keepalive(naming: keepalive.stream, stamp: keepalive.timestamp, now: now)
        dropEvicted()
        switch verdict {
        case .current:
            noteHorizon(keepalive.nextSequence)
        case .announced:
            break
        case .confirm(let candidate):
            switchStream(to: candidate, now: now, into: &sink)
            noteHorizon(keepalive.nextSequence)
        case .stale:
            counters.staleKeepalives &+= 1
        }
    }

    // MARK: Time

    /// Gives up packets missing for longer than the hold time and releases old ones.
    public func tick(now: UInt64) {
        lifecycle.expireCandidates(now: now) { candidate in
            counters.unconfirmedStreamFrames &+= UInt64(held.release(candidate))
        }
        guard lifecycle.current != nil else { return }
        let hold = parameters.holdNanoseconds
        while tail <= head {
            let slot = slots[Int(tail & mask)]
            let since = slot.sequence == tail && slot.state != .empty ? slot.time : streamStart
            guard now >= since, now - since >= hold else { break }
            retire(tail)
            tail &+= 1
        }
    }

    /// Gives up every packet still missing, as at the end of a stream.
    public func finish() {
        guard lifecycle.current != nil else { return }
        counters.unrecoverable &+= missingCount
        missingCount = 0
        tail = head &+ 1
    }
}
