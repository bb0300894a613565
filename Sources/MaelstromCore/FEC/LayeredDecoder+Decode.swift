/// The codec proper: the window of packets, waiting repairs and peeling, for the current stream.
extension LayeredDecoder {
    /// Decodes a data frame of the current stream (checked by the caller): delivers its packet
    /// unless it is a duplicate or too late, and feeds the repairs waiting for it.
    func decodeData<Sink: PacketSink>(
        _ wireSequence: UInt32, payload: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink
    ) {
        guard let source = payload.baseAddress else { return }
        let sequence = extend(wireSequence)
        guard withinReach(sequence) else { return }
        lifecycle.heardCurrent(now: now)
        guard sequence >= tail, sequence >= deliverFrom else {
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
        if slot.pointee.sequence != sequence {
            clearWaiters(index)
        } else if slot.pointee.state == .missing {
            missingCount &-= 1
        }
        slotBytes.advanced(by: index &* stride).copyMemory(from: source, byteCount: payload.count)
        slot.pointee = Slot(sequence: sequence, time: now, length: Int32(payload.count), state: .present)
        counters.received &+= 1
        sink.deliver(payload, sequence: sequence, recovery: nil)
        feedWaiters(index)
        drainWork(now: now, into: &sink)
    }

    /// Decodes a repair frame of the current stream whose description the caller has checked:
    /// rebuilds its one missing member, or keeps it for later.
    func decodeRepair<Sink: PacketSink>(
        _ header: RepairFrameHeader, payload: UnsafeRawBufferPointer, now: UInt64, into sink: inout Sink
    ) {
        guard let source = payload.baseAddress else { return }
        let count = Int(header.count)
        let memberStride = UInt64(header.stride)
        let layer = Int(header.layer)
        let first = extend(header.firstSequence)
        let last = first &+ UInt64(count - 1) &* memberStride
        guard withinReach(last) else { return }
        lifecycle.heardCurrent(now: now)
        counters.repairsReceived &+= 1
        guard first >= tail, first >= firstSeen else {
            counters.repairsLate &+= 1
            return
        }
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
                missingCount &+= 1
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
                waiterMasks[memberIndex] |= 1 << UInt8(layer)
            }
            member &+= memberStride
        }
        pending.pointee = PendingRepair(
            first: first, stride: memberStride, count: Int32(count), layer: Int32(layer),
            payloadLength: Int32(payload.count), missing: Int32(missing), lengthXor: length, inUse: true)
    }

    // MARK: Window

    func advance(to sequence: UInt64, now: UInt64) {
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
            missingCount &+= 1
            next &+= 1
        }
        head = sequence
    }

    func retire(_ sequence: UInt64) {
        let index = Int(sequence & mask)
        guard slots[index].sequence == sequence else { return }
        if slots[index].state == .missing {
            counters.unrecoverable &+= 1
            missingCount &-= 1
            clearWaiters(index)
        }
        slots[index].state = .empty
    }

    // Waiting repairs that still miss this slot's packet can never complete: let them go.
    // The mask says which layers have one, so a slot without waiting repairs (the lossless
    // case) costs one load.
    @inline(__always)
    func clearWaiters(_ index: Int) {
        var layers = waiterMasks[index]
        while layers != 0 {
            let layer = Int(layers.trailingZeroBitCount)
            layers &= layers &- 1
            let id = waiters[index &* Self.layers &+ layer]
            waiters[index &* Self.layers &+ layer] = Self.noRepair
            if id != Self.noRepair { releaseRepair(id) }
        }
        waiterMasks[index] = 0
    }

    // MARK: Peeling

    @inline(__always)
    func feedWaiters(_ index: Int) {
        var layers = waiterMasks[index]
        guard layers != 0 else { return }
        waiterMasks[index] = 0
        let length = Int(slots[index].length)
        let source = slotBytes.advanced(by: index &* stride)
        while layers != 0 {
            let layer = Int(layers.trailingZeroBitCount)
            layers &= layers &- 1
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

    func drainWork<Sink: PacketSink>(now: UInt64, into sink: inout Sink) {
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

    func deliverRebuilt<Sink: PacketSink>(
        index: Int, sequence: UInt64, length: Int, now: UInt64, into sink: inout Sink
    ) {
        let noticed = slots[index].time
        missingCount &-= 1
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

    func releaseRepair(_ id: Int32) {
        let pending = repairs.advanced(by: Int(id))
        guard pending.pointee.inUse else { return }
        var member = pending.pointee.first
        let layer = Int(pending.pointee.layer)
        for _ in 0..<Int(pending.pointee.count) {
            let index = Int(member & mask)
            if slots[index].sequence == member && waiters[index &* Self.layers &+ layer] == id {
                waiters[index &* Self.layers &+ layer] = Self.noRepair
                waiterMasks[index] &= ~(1 << UInt8(layer))
            }
            member &+= pending.pointee.stride
        }
        pending.pointee.inUse = false
        freeRepairs[freeRepairCount] = id
        freeRepairCount += 1
    }
}
