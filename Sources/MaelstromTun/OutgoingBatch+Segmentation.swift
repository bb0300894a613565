import CTun
import Glibc

extension OutgoingBatch {
    /// Datagrams per segmented send (the kernel's old limit; newer kernels take 128).
    static let maxSegments = Int(CTUN_UDP_MAX_SEGMENTS)
    /// UDP payload bytes per segmented send: the run must fit one 64 KiB IP packet.
    static let maxSegmentedBytes = Int(CTUN_UDP_MAX_SEGMENTED_BYTES)

    /// Header plus payload bytes of message `index`.
    @inline(__always)
    func messageLength(_ index: Int) -> Int {
        iovecs[2 * index].iov_len + iovecs[2 * index + 1].iov_len
    }

    /// Starts sending [start, end): forgets the sent marks unless this call resumes exactly where an
    /// interrupted one stopped, in which case the messages that call sent out of order stay marked.
    func beginSend(from start: Int, to end: Int) {
        if resumeIndex != start { (sent + start).update(repeating: false, count: end - start) }
        resumeIndex = -1
    }

    /// Ends an interrupted send of [start, end): returns the length of the prefix that is fully sent
    /// and remembers where it ends, so the caller's retry from there skips what was sent after it.
    func interruptSend(from start: Int, to end: Int) -> Int {
        var index = start
        while index < end && sent[index] { index += 1 }
        if index < end { resumeIndex = index }
        return index - start
    }

    /// First message (in batch order) carried by wire message `wireIndex`.
    @inline(__always)
    func firstMember(ofWire wireIndex: Int) -> Int {
        Int(wireMembers[Int(wire[wireIndex].iov_index) / 2])
    }

    /// The messages carried by wire message `wireIndex`, as a range of `wireMembers`.
    @inline(__always)
    func memberRange(ofWire wireIndex: Int) -> Range<Int> {
        let message = wire[wireIndex]
        let first = Int(message.iov_index) / 2
        return first..<first + Int(message.iov_count) / 2
    }

    /// Lays out the unsent messages of [start, end) as wire messages and returns how many.
    ///
    /// Without `segmenting`, each message is one plain datagram, in batch order. With it, the
    /// earliest message not yet placed starts a run, which takes the later messages with the same
    /// destination and length (1...`maxSegmentSize` bytes), in order, up to `maxSegments` datagrams
    /// and `maxSegmentedBytes` bytes; a run of one is a plain datagram.
    ///
    /// A run may pull its members ahead of longer messages (and of equal-length ones to other
    /// destinations) but stops at a shorter one still waiting: no message ever leaves before a
    /// shorter one queued ahead of it. The decoder accepts any order, but order still costs: a
    /// repair frame is longer than every data frame it covers, and one that overtakes them rebuilds
    /// the last of them early, which then arrives as a duplicate while TCP sees the rebuilt packet
    /// out of order. The encoder queues the repairs of full bins before the next data frame, so
    /// without this rule (runs formed per group, groups in order of first message) the bed measured
    /// ~14k duplicates and ~50 spurious retransmits in 3 s; with it, none, and data frames still go
    /// out in runs of 40+ (they overtake the longer repairs), the repairs following in runs of their own.
    func planWire(from start: Int, to end: Int, segmenting: Bool, maxSegmentSize: Int) -> Int {
        guard segmenting else {
            var wireCount = 0
            for index in start..<end where !sent[index] {
                placeSingle(index, wireIndex: wireCount)
                wireCount += 1
            }
            return wireCount
        }

        var pendingCount = 0
        for index in start..<end where !sent[index] {
            pending[pendingCount] = Int32(index)
            pendingLengths[pendingCount] = Int32(messageLength(index))
            placed[index] = false
            pendingCount += 1
        }

        var wireCount = 0
        var position = 0
        var cursor = 0
        while true {
            // The earliest message not yet placed heads the next run.
            while cursor < pendingCount && placed[Int(pending[cursor])] { cursor += 1 }
            guard cursor < pendingCount else { break }
            let head = Int(pending[cursor])
            let length = Int(pendingLengths[cursor])
            // Empty, or too long to pair within the byte limit: always alone.
            let pairable = length > 0 && length <= maxSegmentSize && 2 * length <= Self.maxSegmentedBytes
            let limit = pairable ? min(Self.maxSegments, Self.maxSegmentedBytes / length) : 1
            let runStart = position
            place(head, at: position)
            position += 1
            var taken = 1
            var scan = cursor + 1
            while taken < limit && scan < pendingCount {
                let candidate = Int(pending[scan])
                let candidateLength = Int(pendingLengths[scan])
                scan += 1
                if placed[candidate] { continue }
                if candidateLength == length && sameDestination(candidate, head) {
                    place(candidate, at: position)
                    position += 1
                    taken += 1
                } else if candidateLength < length {
                    break
                }
            }
            wire[wireCount] = ctun_wire_message(
                iov_index: UInt32(2 * runStart), iov_count: UInt32(2 * taken), addr_index: UInt32(head),
                segment_size: taken >= 2 ? UInt16(length) : 0, reserved: 0)
            wireCount += 1
        }
        return wireCount
    }

    /// Puts message `index` at `position` of the wire layout.
    @inline(__always)
    private func place(_ index: Int, at position: Int) {
        placed[index] = true
        wireMembers[position] = Int32(index)
        wireIovecs[2 * position] = iovecs[2 * index]
        wireIovecs[2 * position + 1] = iovecs[2 * index + 1]
    }

    /// Makes message `index` alone the wire message `wireIndex` (the plain path).
    @inline(__always)
    private func placeSingle(_ index: Int, wireIndex: Int) {
        wireMembers[wireIndex] = Int32(index)
        wireIovecs[2 * wireIndex] = iovecs[2 * index]
        wireIovecs[2 * wireIndex + 1] = iovecs[2 * index + 1]
        wire[wireIndex] = ctun_wire_message(
            iov_index: UInt32(2 * wireIndex), iov_count: 2, addr_index: UInt32(index), segment_size: 0, reserved: 0)
    }

    /// Whether messages `a` and `b` go to the same socket address (`SocketAddress.write` fills every
    /// byte of the written length, so comparing bytes is comparing addresses).
    @inline(__always)
    private func sameDestination(_ a: Int, _ b: Int) -> Bool {
        let length = addressLengths[a]
        return length == addressLengths[b] && memcmp(addresses + a, addresses + b, Int(length)) == 0
    }
}
