/// The receive side of layered interleaving: delivers every packet once, rebuilding lost ones.
///
/// Originals are delivered as they arrive; a lost packet is rebuilt as soon as some repair misses
/// only it, and each rebuilt packet is XORed into the other repairs waiting for it, which may
/// complete them in turn (peeling across layers). Repairs missing two or more members are kept
/// reduced to the XOR of their missing members, so every packet is XORed into a waiting repair
/// once. Memory is fixed at creation: a window of `windowPackets` sequence numbers and a pool
/// of `repairCapacity` waiting repairs.
///
/// Not thread-safe: owned by one thread. Allocates only in `init`.
public final class LayeredDecoder {
    /// The limits this decoder was created with.
    public let parameters: DecoderParameters
    /// What has happened so far.
    public private(set) var counters = DecoderCounters()

    private enum SlotState: UInt8 { case empty, missing, present }

    private struct Slot {
        var sequence: UInt64 = 0
        // For a missing packet, when it was noticed missing; for a present one, when it came.
        var time: UInt64 = 0
        var length: Int32 = 0
        var state: SlotState = .empty
    }

    private struct PendingRepair {
        var first: UInt64 = 0
        var stride: UInt64 = 0
        var count: Int32 = 0
        var layer: Int32 = 0
        var payloadLength: Int32 = 0
        var missing: Int32 = 0
        var lengthXor: UInt16 = 0
        var inUse = false
    }

    private static let layers = FECParameters.maxLayers
    private static let noRepair: Int32 = -1
    // 64-bit sequence numbers of a stream start here, so that packets sent before the first one
    // seen still have a place below it.
    private static let sequenceBase: UInt64 = 1 << 32

    private let window: UInt64
    private let mask: UInt64
    private let stride: Int
    private let maxPacketSize: Int
    private let slots: UnsafeMutablePointer<Slot>
    private let slotBytes: UnsafeMutableRawPointer
    // waiters[slot * layers + layer]: the pending repair of that layer still missing this packet.
    private let waiters: UnsafeMutablePointer<Int32>
    private let repairCapacity: Int
    private let repairs: UnsafeMutablePointer<PendingRepair>
    private let repairBytes: UnsafeMutableRawPointer
    private let freeRepairs: UnsafeMutablePointer<Int32>
    private var freeRepairCount: Int
    // Repairs that have come down to one missing member, waiting to be turned into a packet.
    private let work: UnsafeMutablePointer<Int32>
    private var workCount = 0

    private var hasStream = false
    private var stream: UInt32 = 0
    private var hasPreviousStream = false
    private var previousStream: UInt32 = 0
    private var streamStart: UInt64 = 0
    // Tracked sequence numbers are tail...head; below firstSeen the stream may have been decoded
    // by an earlier incarnation of this gateway, so repairs reaching there are not used.
    private var head: UInt64 = 0
    private var tail: UInt64 = 1
    private var firstSeen: UInt64 = 0

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
        waiters = .allocate(capacity: parameters.windowPackets * Self.layers)
        waiters.initialize(repeating: Self.noRepair, count: parameters.windowPackets * Self.layers)
        repairs = .allocate(capacity: parameters.repairCapacity)
        repairs.initialize(repeating: PendingRepair(), count: parameters.repairCapacity)
        repairBytes = .allocate(byteCount: parameters.repairCapacity * stride, alignment: 64)
        freeRepairs = .allocate(capacity: parameters.repairCapacity)
        for index in 0..<parameters.repairCapacity {
            freeRepairs[index] = Int32(parameters.repairCapacity - 1 - index)
        }
        freeRepairCount = parameters.repairCapacity
        work = .allocate(capacity: parameters.repairCapacity)
    }

    deinit {
        slots.deinitialize(count: Int(window))
        slots.deallocate()
        slotBytes.deallocate()
        waiters.deallocate()
        repairs.deinitialize(count: repairCapacity)
        repairs.deallocate()
        repairBytes.deallocate()
        freeRepairs.deallocate()
        work.deallocate()
    }

    /// The stream being decoded, if any frame has come yet.
    public var currentStream: UInt32? { hasStream ? stream : nil }

    /// The highest sequence number (64-bit, relative to this decoder) seen so far in the stream.
    public var highestSequence: UInt64? { hasStream ? head : nil }

    /// Repairs now waiting for a second-to-last member.
    public var pendingRepairs: Int { repairCapacity - freeRepairCount }

    /// When `tick` would next give something up, or nil when nothing is tracked.
    public var nextDeadline: UInt64? {
        guard hasStream, tail <= head else { return nil }
        let slot = slots[Int(tail & mask)]
        let since = slot.sequence == tail && slot.state != .empty ? slot.time : streamStart
        return since &+ parameters.holdNanoseconds
    }

    // MARK: Frames in

    /// Parses one datagram and handles it; malformed input is counted, never trapped on.
    public func receive<Sink: PacketSink>(datagram: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink) {
        do {
            switch try Frame.parse(datagram) {
            case .data(let header, let payload): receiveData(header, payload: payload, now: now, into: &sink)
            case .repair(let header, let payload): receiveRepair(header, payload: payload, now: now, into: &sink)
            case .keepalive: counters.keepalives &+= 1
            }
        } catch {
            counters.malformed &+= 1
        }
    }

    /// Handles a data frame: delivers its packet unless it is a duplicate or too late.
    public func receiveData<Sink: PacketSink>(
        _ header: DataFrameHeader, payload: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink
    ) {
        guard payload.count >= 1, payload.count <= maxPacketSize, let source = payload.baseAddress else {
            counters.malformed &+= 1
            return
        }
        guard acceptStream(header.stream, sequence: header.sequence, now: now) else { return }
        let sequence = extend(header.sequence)
        guard sequence >= tail else {
            counters.late &+= 1
            return
        }
        if sequence > head { advance(to: sequence, now: now) }
        let index = Int(sequence & mask)
        let slot = slots.advanced(by: index)
        if slot.pointee.sequence == sequence && slot.pointee.state == .present {
            counters.duplicates &+= 1
            return
        }
        if slot.pointee.sequence != sequence { clearWaiters(index) }
        slotBytes.advanced(by: index &* stride).copyMemory(from: source, byteCount: payload.count)
        slot.pointee = Slot(sequence: sequence, time: now, length: Int32(payload.count), state: .present)
        counters.received &+= 1
        sink.deliver(payload, sequence: sequence, recovery: nil)
        feedWaiters(index)
        drainWork(now: now, into: &sink)
    }

    /// Handles a repair frame: rebuilds its one missing member, or keeps it for later.
    public func receiveRepair<Sink: PacketSink>(
        _ header: RepairFrameHeader, payload: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink
    ) {
        let count = Int(header.count)
        let memberStride = UInt64(header.stride)
        let layer = Int(header.layer)
        guard count >= 1, memberStride >= 1, layer < Self.layers, payload.count >= 1,
            payload.count <= maxPacketSize, UInt64(count - 1) &* memberStride < window,
            let source = payload.baseAddress
        else {
            counters.malformed &+= 1
            return
        }
        guard acceptStream(header.stream, sequence: header.firstSequence, now: now) else { return }
        counters.repairsReceived &+= 1
        let first = extend(header.firstSequence)
        guard first >= tail, first >= firstSeen else {
            counters.repairsLate &+= 1
            return
        }
        let last = first &+ UInt64(count - 1) &* memberStride
        if last > head { advance(to: last, now: now) }

        var missing = 0
        var lastMissing: UInt64 = 0
        var member = first
        for _ in 0..<count {
            let memberIndex = Int(member & mask)
            if slots[memberIndex].sequence != member {
                // Never referenced before (below the first packet seen): it was sent, so it is missing.
                clearWaiters(memberIndex)
                slots[memberIndex] = Slot(sequence: member, time: now, length: 0, state: .missing)
            }
            let slot = slots[memberIndex]
            if slot.state == .present {
                guard Int(slot.length) <= payload.count else {
                    counters.malformed &+= 1
                    return
                }
            } else {
                missing += 1
                lastMissing = member
                let holder = waiters[memberIndex &* Self.layers &+ layer]
                if holder != Self.noRepair {
                    // The same repair again (the network duplicated it), or one that overlaps it.
                    counters.repairsDropped &+= 1
                    return
                }
            }
            member &+= memberStride
        }

        if missing == 0 {
            counters.repairsUnneeded &+= 1
            return
        }
        if missing == 1 {
            // Rebuild straight into the missing packet's slot: no pool entry needed.
            let index = Int(lastMissing & mask)
            let destination = slotBytes.advanced(by: index &* stride)
            destination.copyMemory(from: source, byteCount: payload.count)
            var length = header.lengthXor
            member = first
            for _ in 0..<count {
                if member != lastMissing {
                    let memberIndex = Int(member & mask)
                    let memberLength = Int(slots[memberIndex].length)
                    xorBytes(into: destination, from: slotBytes.advanced(by: memberIndex &* stride), count: memberLength)
                    length ^= UInt16(truncatingIfNeeded: memberLength)
                }
                member &+= memberStride
            }
            guard length >= 1, Int(length) <= payload.count else {
                counters.malformed &+= 1
                return
            }
            deliverRebuilt(index: index, sequence: lastMissing, length: Int(length), now: now, into: &sink)
            drainWork(now: now, into: &sink)
            return
        }

        guard freeRepairCount > 0 else {
            counters.repairsDropped &+= 1
            return
        }
        freeRepairCount -= 1
        let id = freeRepairs[freeRepairCount]
        let pending = repairs.advanced(by: Int(id))
        let buffer = repairBytes.advanced(by: Int(id) &* stride)
        buffer.copyMemory(from: source, byteCount: payload.count)
        var length = header.lengthXor
        member = first
        for _ in 0..<count {
            let memberIndex = Int(member & mask)
            if slots[memberIndex].state == .present {
                let memberLength = Int(slots[memberIndex].length)
                xorBytes(into: buffer, from: slotBytes.advanced(by: memberIndex &* stride), count: memberLength)
                length ^= UInt16(truncatingIfNeeded: memberLength)
            } else {
                waiters[memberIndex &* Self.layers &+ layer] = id
            }
            member &+= memberStride
        }
        pending.pointee = PendingRepair(
            first: first, stride: memberStride, count: Int32(count), layer: Int32(layer),
            payloadLength: Int32(payload.count), missing: Int32(missing), lengthXor: length, inUse: true)
    }

    // MARK: Time

    /// Gives up packets missing for longer than the hold time and releases old ones.
    public func tick(now: UInt64) {
        guard hasStream else { return }
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
        guard hasStream else { return }
        while tail <= head {
            retire(tail)
            tail &+= 1
        }
    }

    // MARK: Stream and window

    private func acceptStream(_ candidate: UInt32, sequence: UInt32, now: UInt64) -> Bool {
        if hasStream && candidate == stream { return true }
        if hasPreviousStream && candidate == previousStream {
            counters.staleStreamFrames &+= 1
            return false
        }
        if hasStream {
            finish()
            counters.streamRestarts &+= 1
            previousStream = stream
            hasPreviousStream = true
        }
        startStream(candidate, sequence: sequence, now: now)
        return true
    }

    private func startStream(_ newStream: UInt32, sequence: UInt32, now: UInt64) {
        for index in 0..<Int(window) {
            slots[index] = Slot()
        }
        waiters.update(repeating: Self.noRepair, count: Int(window) * Self.layers)
        for id in 0..<repairCapacity {
            repairs[id].inUse = false
            freeRepairs[id] = Int32(repairCapacity - 1 - id)
        }
        freeRepairCount = repairCapacity
        workCount = 0
        hasStream = true
        stream = newStream
        streamStart = now
        let position = Self.sequenceBase + UInt64(sequence)
        // A stream that starts near sequence 0 is new: everything of it is wanted. One seen first
        // far from 0 was joined midway (this side restarted) and is decoded from here on.
        firstSeen = UInt64(sequence) < window ? Self.sequenceBase : position
        head = position - 1
        tail = head + 1 - window
    }

    // The 64-bit sequence number nearest to `head` whose low 32 bits are `sequence`.
    private func extend(_ sequence: UInt32) -> UInt64 {
        let delta = Int64(Int32(bitPattern: sequence &- UInt32(truncatingIfNeeded: head)))
        return UInt64(Int64(bitPattern: head) &+ delta)
    }

    private func advance(to sequence: UInt64, now: UInt64) {
        let newTail = sequence + 1 - window
        if newTail > tail {
            let retireEnd = min(newTail, head + 1)
            while tail < retireEnd {
                retire(tail)
                tail &+= 1
            }
            if newTail > head + 1 {
                // Sent, never seen, and already out of the window: lost outright.
                counters.unrecoverable &+= newTail - (head + 1)
            }
            tail = newTail
        }
        var next = max(head + 1, tail)
        while next <= sequence {
            let index = Int(next & mask)
            clearWaiters(index)
            slots[index] = Slot(sequence: next, time: now, length: 0, state: .missing)
            next &+= 1
        }
        head = sequence
    }

    private func retire(_ sequence: UInt64) {
        let index = Int(sequence & mask)
        guard slots[index].sequence == sequence else { return }
        if slots[index].state == .missing {
            counters.unrecoverable &+= 1
            clearWaiters(index)
        }
        slots[index].state = .empty
    }

    // Waiting repairs that still miss this slot's packet can never complete: let them go.
    private func clearWaiters(_ index: Int) {
        for layer in 0..<Self.layers {
            let id = waiters[index &* Self.layers &+ layer]
            if id != Self.noRepair {
                waiters[index &* Self.layers &+ layer] = Self.noRepair
                releaseRepair(id)
            }
        }
    }

    // MARK: Peeling

    private func feedWaiters(_ index: Int) {
        let length = Int(slots[index].length)
        let source = slotBytes.advanced(by: index &* stride)
        for layer in 0..<Self.layers {
            let slotWaiter = index &* Self.layers &+ layer
            let id = waiters[slotWaiter]
            guard id != Self.noRepair else { continue }
            waiters[slotWaiter] = Self.noRepair
            let pending = repairs.advanced(by: Int(id))
            guard length <= Int(pending.pointee.payloadLength) else {
                // A member longer than the repair that covers it: the repair was not honest.
                counters.malformed &+= 1
                releaseRepair(id)
                continue
            }
            xorBytes(into: repairBytes.advanced(by: Int(id) &* stride), from: source, count: length)
            pending.pointee.lengthXor ^= UInt16(truncatingIfNeeded: length)
            pending.pointee.missing -= 1
            if pending.pointee.missing == 1 {
                work[workCount] = id
                workCount += 1
            } else if pending.pointee.missing <= 0 {
                releaseRepair(id)
            }
        }
    }

    private func drainWork<Sink: PacketSink>(now: UInt64, into sink: inout Sink) {
        while workCount > 0 {
            workCount -= 1
            let id = work[workCount]
            let pending = repairs[Int(id)]
            guard pending.inUse, pending.missing == 1 else { continue }
            var member = pending.first
            var target: UInt64? = nil
            for _ in 0..<Int(pending.count) {
                let index = Int(member & mask)
                if slots[index].sequence == member, slots[index].state == .missing,
                    waiters[index &* Self.layers &+ Int(pending.layer)] == id
                {
                    target = member
                    break
                }
                member &+= pending.stride
            }
            let length = Int(pending.lengthXor)
            guard let missingSequence = target, length >= 1, length <= Int(pending.payloadLength) else {
                counters.malformed &+= 1
                releaseRepair(id)
                continue
            }
            let index = Int(missingSequence & mask)
            slotBytes.advanced(by: index &* stride).copyMemory(
                from: repairBytes.advanced(by: Int(id) &* stride), byteCount: length)
            releaseRepair(id)
            deliverRebuilt(index: index, sequence: missingSequence, length: length, now: now, into: &sink)
        }
    }

    private func deliverRebuilt<Sink: PacketSink>(
        index: Int, sequence: UInt64, length: Int, now: UInt64, into sink: inout Sink
    ) {
        let noticed = slots[index].time
        slots[index].length = Int32(length)
        slots[index].state = .present
        slots[index].time = now
        counters.rebuilt &+= 1
        let recovery = Recovery(latencyPackets: head - sequence, latencyNanoseconds: now >= noticed ? now - noticed : 0)
        sink.deliver(
            UnsafeRawBufferPointer(start: slotBytes.advanced(by: index &* stride), count: length),
            sequence: sequence, recovery: recovery)
        feedWaiters(index)
    }

    private func releaseRepair(_ id: Int32) {
        let pending = repairs.advanced(by: Int(id))
        guard pending.pointee.inUse else { return }
        var member = pending.pointee.first
        let layer = Int(pending.pointee.layer)
        for _ in 0..<Int(pending.pointee.count) {
            let index = Int(member & mask)
            if slots[index].sequence == member && waiters[index &* Self.layers &+ layer] == id {
                waiters[index &* Self.layers &+ layer] = Self.noRepair
            }
            member &+= pending.pointee.stride
        }
        pending.pointee.inUse = false
        freeRepairs[freeRepairCount] = id
        freeRepairCount += 1
    }
}
