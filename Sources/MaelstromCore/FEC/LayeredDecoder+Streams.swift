/// Stream admission: which frames reach the codec, switching streams, and far jumps.
extension LayeredDecoder {
    /// Decides whether a frame of `stream` is decoded now; holds or drops it otherwise.
    /// `hold` keeps the frame for a candidate and returns false when there is no room.
    func admit<Sink: PacketSink>(
        _ stream: StreamID, sequence: UInt32, now: UInt64, into sink: inout Sink, hold: (Int) -> Bool
    ) -> Bool {
        let verdict = lifecycle.classify(frameOf: stream, sequence: sequence, now: now)
        dropEvicted()
        switch verdict {
        case .decode:
            return true
        case .hold(let candidate):
            if !hold(candidate) { counters.unconfirmedStreamFrames &+= 1 }
            return false
        case .confirm(let candidate):
            switchStream(to: candidate, now: now, into: &sink)
            return true
        case .stale:
            counters.staleStreamFrames &+= 1
            return false
        case .unconfirmed:
            counters.unconfirmedStreamFrames &+= 1
            return false
        }
    }

    /// Lets go of the frames of a candidate the lifecycle had to evict for a new one.
    func dropEvicted() {
        if let evicted = lifecycle.takeEvicted() {
            counters.unconfirmedStreamFrames &+= UInt64(held.release(evicted))
        }
    }

    /// Follows candidate `candidate` from now on: the stream it replaces is given up (its missing
    /// packets counted unrecoverable), and the frames held for it are decoded in arrival order.
    func switchStream<Sink: PacketSink>(to candidate: Int, now: UInt64, into sink: inout Sink) {
        let replacing = lifecycle.current != nil
        let chosen = lifecycle.confirm(candidate, retiringAt: UInt32(truncatingIfNeeded: head), now: now)
        if replacing {
            counters.streamRestarts &+= 1
            counters.unrecoverable &+= missingCount
            missingCount = 0
        }
        startStream(at: chosen.anchor, resumingAfter: chosen.resumeAfter, now: now)
        for index in 0..<held.count(of: candidate) {
            switch held.frame(candidate, index) {
            case .data(let header, let payload)?: decodeData(header.sequence, payload: payload, now: now, into: &sink)
            case .repair(let header, let payload)?: decodeRepair(header, payload: payload, now: now, into: &sink)
            default: break
            }
        }
        held.release(candidate)
    }

    /// Starts decoding a stream at its first frame's sequence number `first`, in O(1): its 64-bit
    /// sequence numbers lie 2³² or more above everything the previous stream used, so no slot or
    /// waiting repair of that stream can ever match one of this stream.
    func startStream(at first: UInt32, resumingAfter resume: UInt32?, now: UInt64) {
        let base = everStarted ? ((max(head, tail) >> 32) &+ 2) << 32 : Self.sequenceBase
        everStarted = true
        workCount = 0
        streamStart = now
        let position = base &+ UInt64(first)
        // A stream that starts near sequence 0 is new: everything of it is wanted. One seen first
        // far from 0 was joined midway (this side restarted) and is decoded from here on.
        firstSeen = UInt64(first) < window ? base : position
        deliverFrom = 0
        if let resume {
            let after = UInt64(bitPattern: Int64(bitPattern: position) &+ Int64(Int32(bitPattern: resume &+ 1 &- first)))
            deliverFrom = after
            firstSeen = max(firstSeen, after)
        }
        head = position &- 1
        tail = head &+ 1 &- window
        horizon = 0
        jumpCount = 0
    }

    /// The 64-bit sequence number nearest to `head` whose low 32 bits are `sequence`.
    @inline(__always)
    func extend(_ sequence: UInt32) -> UInt64 {
        let delta = Int64(Int32(bitPattern: sequence &- UInt32(truncatingIfNeeded: head)))
        return UInt64(bitPattern: Int64(bitPattern: head) &+ delta)
    }

    /// Remembers how far the sender says its stream has got (its next sequence number).
    func noteHorizon(_ nextSequence: UInt32) {
        let next = extend(nextSequence)
        if next > head && next &- 1 > horizon { horizon = next &- 1 }
    }

    /// Whether a frame reaching `position` may move the window: anything up to one window ahead
    /// may; beyond that only where the sender's keepalive said it had got, or when
    /// `confirmationFrames` frames agree on a new region. One stray frame cannot move it.
    func withinReach(_ position: UInt64) -> Bool {
        if position <= head &+ window { return true }
        if horizon > head && position <= horizon &+ window { return true }
        let distance = position > jumpAnchor ? position &- jumpAnchor : jumpAnchor &- position
        if jumpCount > 0 && distance < window {
            jumpCount += 1
        } else {
            jumpAnchor = position
            jumpCount = 1
        }
        if jumpCount >= lifecycle.confirmationFrames {
            jumpCount = 0
            return true
        }
        counters.farJumpsRefused &+= 1
        return false
    }
}
