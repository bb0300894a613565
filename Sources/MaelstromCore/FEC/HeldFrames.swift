/// The frames of unconfirmed streams, kept so that confirming a stream loses none of its first frames.
///
/// Fixed storage: `framesPerCandidate` slots of one frame each per candidate, in arrival order.
/// Not thread-safe; allocates only in `init`.
final class HeldFrames {
    let candidates: Int
    let framesPerCandidate: Int
    let slotSize: Int
    private let slab: UnsafeMutableRawPointer
    private let lengths: UnsafeMutablePointer<Int>
    private let counts: UnsafeMutablePointer<Int>

    init(candidates: Int, framesPerCandidate: Int, maxFrameSize: Int) {
        self.candidates = max(1, candidates)
        self.framesPerCandidate = max(1, framesPerCandidate)
        slotSize = (maxFrameSize + 1 + 63) & ~63
        let slots = self.candidates * self.framesPerCandidate
        slab = .allocate(byteCount: slots * slotSize, alignment: 64)
        lengths = .allocate(capacity: slots)
        lengths.initialize(repeating: 0, count: slots)
        counts = .allocate(capacity: self.candidates)
        counts.initialize(repeating: 0, count: self.candidates)
    }

    deinit {
        slab.deallocate()
        lengths.deallocate()
        counts.deallocate()
    }

    /// Frames held for `candidate`.
    func count(of candidate: Int) -> Int { counts[candidate] }

    /// Keeps a frame of `type` made of `header` (its own header) then `payload`; false when the
    /// candidate's slots are full.
    @discardableResult
    func hold(_ candidate: Int, type: FrameType, header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> Bool {
        let held = counts[candidate]
        let total = 1 + header.count + payload.count
        guard held < framesPerCandidate, total <= slotSize else { return false }
        let slot = candidate * framesPerCandidate + held
        let destination = slab + slot * slotSize
        destination.storeBytes(of: type.rawValue, as: UInt8.self)
        if let base = header.baseAddress { (destination + 1).copyMemory(from: base, byteCount: header.count) }
        if let base = payload.baseAddress { (destination + 1 + header.count).copyMemory(from: base, byteCount: payload.count) }
        lengths[slot] = total
        counts[candidate] = held + 1
        return true
    }

    /// Frame `index` (in arrival order) held for `candidate`, parsed again; valid until the
    /// candidate is released.
    func frame(_ candidate: Int, _ index: Int) -> Frame? {
        let slot = candidate * framesPerCandidate + index
        let base = UnsafeRawPointer(slab + slot * slotSize)
        guard let type = FrameType(rawValue: base.load(as: UInt8.self)) else { return nil }
        let headerSize = type.bodyHeaderSize
        let payload = UnsafeRawBufferPointer(start: base + 1 + headerSize, count: lengths[slot] - 1 - headerSize)
        return try? Frame.parseBody(type, header: base + 1, payload: payload)
    }

    /// Forgets what `candidate` held; returns how many frames that was.
    @discardableResult
    func release(_ candidate: Int) -> Int {
        defer { counts[candidate] = 0 }
        return counts[candidate]
    }
}
