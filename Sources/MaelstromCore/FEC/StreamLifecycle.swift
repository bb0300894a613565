/// Which sender stream a decoder follows, and what it takes for another stream to replace it.
///
/// A new stream identity means the sender restarted, but one datagram proves nothing: it may be a
/// straggler of a stream the sender left long ago (the WAN delays datagrams), or forged. So a
/// stream other than the current one is a *candidate* until it is confirmed, by either
/// - the sender's keepalive naming it, when that keepalive is *fresh* (its timestamp is newer than
///   every keepalive of the current stream, or the current stream has gone silent, or there is
///   none), together with at least one of its frames; or
/// - `confirmationFrames` consistent frames of it (within one window of each other), when the
///   current stream has gone silent or there is none yet.
/// A stream that was left is *retired* and its frames are refused; only a fresh keepalive brings
/// it back, and then decoding resumes after the last packet it had reached, so nothing is
/// delivered twice. Delayed honest datagrams are never fresh and never outnumber a live stream,
/// so they cannot move the decoder; a forger needs at least two datagrams (with authentication,
/// none will do).
///
/// A value type with fixed storage: nothing is allocated after `init`. Time is an input.
struct StreamLifecycle {
    /// A stream seen but not (yet) followed.
    struct Candidate {
        var stream = StreamID(0)
        var inUse = false
        /// The first frame's sequence: frames within one window of it are consistent with it, and
        /// decoding starts there when it is confirmed.
        var anchor: UInt32 = 0
        var frames = 0
        var lastFrameAt: UInt64 = 0
        /// A fresh keepalive named it; its timestamp becomes the current stream's bar.
        var announced = false
        var announcedStamp: UInt64 = 0
        /// It is a stream this decoder followed before, resumed after `resumeAfter`.
        var resumeAfter: UInt32? = nil
    }

    /// A stream this decoder followed and left, with how far it had got.
    struct Retired {
        var stream = StreamID(0)
        var inUse = false
        var lastSequence: UInt32 = 0
    }

    /// What to do with a frame of a stream, by its stream alone.
    enum FrameVerdict: Equatable {
        /// Decode it: it belongs to the current stream.
        case decode
        /// Keep it until its stream is confirmed (candidate index).
        case hold(Int)
        /// Its stream has just been confirmed (candidate index): switch, replay what was held, decode it.
        case confirm(Int)
        /// A stream this decoder left: drop it.
        case stale
        /// A candidate's frame that cannot be kept (inconsistent or over the holding limit): drop it.
        case unconfirmed
    }

    /// What a keepalive naming a stream means.
    enum KeepaliveVerdict: Equatable {
        /// It names the current stream.
        case current
        /// A fresh keepalive named a candidate that has no frame yet: its first frame confirms it.
        case announced
        /// A fresh keepalive named a candidate with held frames: switch now (candidate index).
        case confirm(Int)
        /// Not fresh: an old keepalive of a stream the sender has left, or of one it never used.
        case stale
    }

    /// Frames of a candidate that confirm it when the current stream is silent.
    let confirmationFrames: Int
    /// Silence of the current stream after which candidates may replace it on frames alone.
    let silenceNanoseconds: UInt64
    /// Sequence distance within which a candidate's frames are consistent (the decoder's window).
    let window: UInt32

    private(set) var current: StreamID?
    private(set) var currentHeardAt: UInt64 = 0
    /// The newest keepalive timestamp naming the current stream: the bar a switch must clear.
    private(set) var currentStamp: UInt64 = 0
    private(set) var candidates: [Candidate]
    private var retired: [Retired]
    private var nextRetired = 0

    /// Creates a lifecycle following no stream yet.
    init(confirmationFrames: Int, silenceNanoseconds: UInt64, window: Int, candidateCapacity: Int = 2, retiredCapacity: Int = 8) {
        self.confirmationFrames = max(1, confirmationFrames)
        self.silenceNanoseconds = silenceNanoseconds
        self.window = UInt32(clamping: window)
        candidates = Array(repeating: Candidate(), count: max(1, candidateCapacity))
        retired = Array(repeating: Retired(), count: max(1, retiredCapacity))
    }

    /// Whether the current stream has said nothing for `silenceNanoseconds`.
    func isSilent(now: UInt64) -> Bool {
        guard current != nil else { return true }
        return now >= currentHeardAt && now - currentHeardAt >= silenceNanoseconds
    }

    /// Records that the current stream was heard (a frame decoded).
    mutating func heardCurrent(now: UInt64) {
        if now > currentHeardAt { currentHeardAt = now }
    }

    /// Classifies a frame of `stream` with sequence number `sequence`.
    mutating func classify(frameOf stream: StreamID, sequence: UInt32, now: UInt64) -> FrameVerdict {
        if stream == current { return .decode }
        var index = candidateIndex(of: stream)
        if index == nil {
            if isRetired(stream) { return .stale }
            index = insertCandidate(stream, now: now)
        }
        let slot = index!
        if candidates[slot].frames == 0 {
            candidates[slot].anchor = sequence
        } else {
            let distance = Int64(Int32(bitPattern: sequence &- candidates[slot].anchor))
            guard distance.magnitude < UInt64(window) else { return .unconfirmed }
        }
        candidates[slot].frames += 1
        candidates[slot].lastFrameAt = now
        if candidates[slot].announced { return .confirm(slot) }
        if candidates[slot].resumeAfter == nil && candidates[slot].frames >= confirmationFrames && isSilent(now: now) {
            return .confirm(slot)
        }
        return candidates[slot].frames <= confirmationFrames ? .hold(slot) : .unconfirmed
    }

    /// Classifies a keepalive in which the sender names `stream` as its current one.
    mutating func keepalive(naming stream: StreamID, stamp: UInt64, now: UInt64) -> KeepaliveVerdict {
        if stream == current {
            heardCurrent(now: now)
            if stamp > currentStamp { currentStamp = stamp }
            return .current
        }
        guard current == nil || stamp > currentStamp || isSilent(now: now) else { return .stale }
        var index = candidateIndex(of: stream)
        if index == nil {
            index = insertCandidate(stream, now: now)
            if let resume = retiredSequence(of: stream) { candidates[index!].resumeAfter = resume }
        }
        let slot = index!
        candidates[slot].announced = true
        candidates[slot].announcedStamp = max(candidates[slot].announcedStamp, stamp)
        return candidates[slot].frames > 0 ? .confirm(slot) : .announced
    }

    /// Makes candidate `index` the current stream, retiring the one it replaces at `lastSequence`
    /// (the low 32 bits of how far it got). Returns the candidate as it was.
    mutating func confirm(_ index: Int, retiringAt lastSequence: UInt32, now: UInt64) -> Candidate {
        let chosen = candidates[index]
        if let current { retire(current, at: lastSequence) }
        removeRetired(chosen.stream)
        current = chosen.stream
        currentHeardAt = now
        currentStamp = chosen.announcedStamp
        candidates[index] = Candidate()
        return chosen
    }

    /// Forgets candidates that have not been heard for `silenceNanoseconds`; returns the indices freed
    /// through `release`, so their held frames can be let go.
    mutating func expireCandidates(now: UInt64, release: (Int) -> Void) {
        for index in candidates.indices where candidates[index].inUse {
            let last = candidates[index].lastFrameAt
            if now >= last && now - last >= silenceNanoseconds {
                candidates[index] = Candidate()
                release(index)
            }
        }
    }

    /// Candidate evicted by the last `insertCandidate`, if one had to go; the caller drops its frames.
    private(set) var evicted: Int? = nil

    /// Takes the eviction notice (see `evicted`).
    mutating func takeEvicted() -> Int? {
        defer { evicted = nil }
        return evicted
    }

    private func candidateIndex(of stream: StreamID) -> Int? {
        for index in candidates.indices where candidates[index].inUse && candidates[index].stream == stream { return index }
        return nil
    }

    private mutating func insertCandidate(_ stream: StreamID, now: UInt64) -> Int {
        var chosen = 0
        var found = false
        for index in candidates.indices where !candidates[index].inUse {
            chosen = index
            found = true
            break
        }
        if !found {
            // Keep what is most likely the sender's real next stream: announced ones, then the busiest.
            for index in candidates.indices {
                let a = candidates[index]
                let b = candidates[chosen]
                if (!a.announced && b.announced) || (a.announced == b.announced && a.frames < b.frames) { chosen = index }
            }
            evicted = chosen
        }
        candidates[chosen] = Candidate(stream: stream, inUse: true, lastFrameAt: now)
        return chosen
    }

    private func isRetired(_ stream: StreamID) -> Bool { retiredSequence(of: stream) != nil }

    private func retiredSequence(of stream: StreamID) -> UInt32? {
        for entry in retired where entry.inUse && entry.stream == stream { return entry.lastSequence }
        return nil
    }

    private mutating func retire(_ stream: StreamID, at lastSequence: UInt32) {
        removeRetired(stream)
        retired[nextRetired] = Retired(stream: stream, inUse: true, lastSequence: lastSequence)
        nextRetired = (nextRetired + 1) % retired.count
    }

    private mutating func removeRetired(_ stream: StreamID) {
        for index in retired.indices where retired[index].inUse && retired[index].stream == stream {
            retired[index] = Retired()
        }
    }
}
