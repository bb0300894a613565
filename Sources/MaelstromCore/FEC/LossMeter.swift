/// Bursts of consecutive lost packets counted by length, in powers of two: bucket 0 holds
/// bursts of 1, bucket k (k ≥ 1) bursts of 2^(k-1)+1 … 2^k, the last bucket everything longer.
public struct BurstHistogram: Sendable, Equatable {
    /// The number of buckets.
    public static let bucketCount = 16
    /// The counts, by bucket.
    public var counts: SIMD16<UInt32>

    /// An empty histogram.
    public init() { counts = .zero }
    /// A histogram of these counts.
    public init(counts: SIMD16<UInt32>) { self.counts = counts }

    /// The bucket of a burst of `length` (at least 1) packets.
    @inline(__always)
    public static func bucket(forLength length: UInt64) -> Int {
        guard length > 1 else { return 0 }
        let bits = 64 - (length - 1).leadingZeroBitCount
        return min(bits, bucketCount - 1)
    }

    /// The longest burst bucket `index` holds (`UInt64.max` for the last).
    public static func upperLength(ofBucket index: Int) -> UInt64 {
        index >= bucketCount - 1 ? .max : UInt64(1) << UInt64(index)
    }

    /// The shortest burst bucket `index` holds.
    public static func lowerLength(ofBucket index: Int) -> UInt64 {
        index == 0 ? 1 : (UInt64(1) << UInt64(index - 1)) + 1
    }

    /// Counts one burst of `length` packets.
    @inline(__always)
    public mutating func record(length: UInt64) {
        let index = Self.bucket(forLength: length)
        counts[index] = counts[index] &+ 1
    }

    /// Adds another histogram's counts.
    public mutating func add(_ other: BurstHistogram) { counts &+= other.counts }

    /// The total number of bursts.
    public var total: UInt64 {
        var sum: UInt64 = 0
        for index in 0..<Self.bucketCount { sum &+= UInt64(counts[index]) }
        return sum
    }
}

/// What a receiver saw of one sender stream over some stretch of time.
public struct LossWindow: Sendable, Equatable {
    /// Sequence numbers the stream went through (received or not).
    public var expected: UInt64 = 0
    /// Of those, packets whose data frame never arrived (some may have been rebuilt).
    public var lost: UInt64 = 0
    /// Runs of consecutive lost packets that ended in the window.
    public var bursts: BurstHistogram = BurstHistogram()
    /// Packets the decoder gave up on (lost and not rebuilt).
    public var unrecovered: UInt64 = 0

    /// An empty window.
    public init() {}

    /// Creates a window from its counts.
    public init(expected: UInt64, lost: UInt64, bursts: BurstHistogram, unrecovered: UInt64) {
        self.expected = expected
        self.lost = lost
        self.bursts = bursts
        self.unrecovered = unrecovered
    }

    /// `lost / expected`, 0 when nothing was expected.
    public var lossRate: Double { expected == 0 ? 0 : Double(lost) / Double(expected) }
    /// `unrecovered / expected`: the loss left after decoding.
    public var residualRate: Double { expected == 0 ? 0 : Double(unrecovered) / Double(expected) }
    /// The mean length of the bursts that ended in the window (1 when none did).
    public var meanBurstLength: Double {
        let count = bursts.total
        return count == 0 ? 1 : max(1, Double(lost) / Double(count))
    }

    /// What this running count holds beyond `earlier`, an earlier value of the same count (each
    /// field at least 0).
    public func since(_ earlier: LossWindow) -> LossWindow {
        LossWindow(
            expected: expected &- min(expected, earlier.expected), lost: lost &- min(lost, earlier.lost),
            bursts: BurstHistogram(counts: bursts.counts &- pointwiseMin(bursts.counts, earlier.bursts.counts)),
            unrecovered: unrecovered &- min(unrecovered, earlier.unrecovered))
    }

    /// Adds another window's counts.
    public mutating func add(_ other: LossWindow) {
        expected &+= other.expected
        lost &+= other.lost
        bursts.add(other.bursts)
        unrecovered &+= other.unrecovered
    }
}

/// Measures the loss of one sender stream from the sequence numbers of the data frames that
/// arrive, whatever code (or none) protects it: loss rate and burst lengths over recent time,
/// and the residual the decoder left.
///
/// A sequence number is judged `horizon` numbers after the highest one seen, so frames reordered
/// by less than that are not counted lost. Counts go into quarter-second buckets covering the
/// last 64 seconds, so windows of 1 s, 10 s and 60 s are sums of buckets. Time is an input.
/// Not thread-safe: owned by the lane that decodes the stream. Allocates only in `init`.
public final class LossMeter {
    /// Sequence numbers judged after the highest seen: the reordering the meter tolerates.
    public static let horizon: UInt64 = 1024
    /// A jump further ahead than this is a new run of the stream (a restart), not a loss.
    public static let maxJump: UInt64 = 1 << 16
    /// Width of one time bucket, in nanoseconds.
    public static let bucketNanoseconds: UInt64 = 250_000_000
    /// Buckets kept: 64 seconds.
    public static let bucketCount = 256

    // Room for positions waiting for a delay sample: at a full queue the probes are lost too, and
    // a slow start's overflow (sent at twice the link's rate) can outrun three of them in a row.
    private static let ringBits = 16384
    private let ring: UnsafeMutablePointer<UInt64>
    private let buckets: UnsafeMutablePointer<LossWindow>

    private var started = false
    private var highest: UInt64 = 0
    private var judgedUpTo: UInt64 = 0
    private var run: UInt64 = 0
    private var currentBucket: UInt64 = 0
    private var oldestBucket: UInt64 = 0
    private var lastUnrecovered: UInt64 = 0

    /// Everything since the meter started.
    public private(set) var total = LossWindow()
    /// Jumps beyond `maxJump` (or back) that restarted the count.
    public private(set) var restarts: UInt64 = 0
    /// Data frames that came after their sequence number had been judged (counted lost then).
    public private(set) var lateArrivals: UInt64 = 0
    /// Sequence numbers judged while the path's queue was full (see `noteDelaySample`): counted
    /// here and in `total`, but in no window, since losses there are the senders' own congestion.
    public private(set) var congested = LossWindow()

    // Runs of sequence positions (from, to] that crossed a full queue, oldest first; judged ones drop off.
    private static let rangeCapacity = 16
    private var congestedRanges: [(from: UInt64, to: UInt64)] = []
    private var sampledUpTo: UInt64 = 0
    private var sampledBefore: UInt64 = 0
    private var lastSampleCongested = false
    private var runCongested = false

    /// Everything judged outside congestion since the meter started: what the windows hold, not
    /// bounded in time (an early report's slice is the difference of two of these).
    public var judgedOutsideCongestion: LossWindow {
        var judged = total.since(congested)
        judged.unrecovered = total.unrecovered
        return judged
    }

    /// Creates an empty meter.
    public init() {
        ring = .allocate(capacity: Self.ringBits / 64)
        ring.initialize(repeating: 0, count: Self.ringBits / 64)
        buckets = .allocate(capacity: Self.bucketCount)
        buckets.initialize(repeating: LossWindow(), count: Self.bucketCount)
        congestedRanges.reserveCapacity(Self.rangeCapacity)
    }

    /// Once delay samples come, a position waits for the sample after it (whether it crossed a
    /// full queue is known only then; at a full queue keepalives are lost too) for at most this
    /// far behind the highest: the ring's room.
    public static let sampleWait: UInt64 = UInt64(ringBits) - 512
    private var sampling = false

    // Judges what is `horizon` behind the highest and, while delay samples come, also covered by one.
    @inline(__always)
    private func judgeDue() {
        while judgedUpTo &+ Self.horizon < highest
            && (!sampling || judgedUpTo < sampledUpTo || judgedUpTo &+ Self.sampleWait < highest)
        {
            judge(judgedUpTo)
            judgedUpTo &+= 1
        }
    }

    /// Takes a sample of the path's queue (a keepalive's one-way delay, `QueueDelayEstimator`):
    /// when `congested`, the frames that arrived since the previous sample crossed a full queue,
    /// and their losses are the senders' own congestion, which a code must not hide from TCP
    /// (it would push harder, and the policy would buy ever more repairs for it).
    public func noteDelaySample(congested isCongested: Bool) {
        guard started else { return }
        sampling = true
        // A sample tells of the queue when it was queued, and the losses around a full queue
        // spread past it either way: a congested sample marks the interval before the previous
        // one too, and the interval after the last congested sample is marked as well.
        let from = max(isCongested ? sampledBefore : sampledUpTo, judgedUpTo)
        let marks = isCongested || lastSampleCongested
        lastSampleCongested = isCongested
        sampledBefore = sampledUpTo
        sampledUpTo = highest
        defer { judgeDue() }
        guard marks, highest > from else { return }
        if let last = congestedRanges.last, last.to >= from {
            congestedRanges[congestedRanges.count - 1].to = highest
        } else if congestedRanges.count < Self.rangeCapacity {
            congestedRanges.append((from, highest))
        } else {
            congestedRanges[congestedRanges.count - 1].to = highest
        }
    }

    @inline(__always)
    private func isCongested(_ position: UInt64) -> Bool {
        while let first = congestedRanges.first, first.to < position { congestedRanges.removeFirst() }
        guard let first = congestedRanges.first else { return false }
        return position > first.from
    }

    deinit {
        ring.deallocate()
        buckets.deinitialize(count: Self.bucketCount)
        buckets.deallocate()
    }

    /// Notes that the data frame with wire sequence number `sequence` arrived at `now`.
    @inline(__always)
    public func record(_ sequence: UInt32, now: UInt64) {
        advanceClock(now)
        guard started else {
            restart(at: UInt64(sequence) | (1 << 32))
            return
        }
        let delta = Int64(Int32(bitPattern: sequence &- UInt32(truncatingIfNeeded: highest)))
        let position = UInt64(bitPattern: Int64(bitPattern: highest) &+ delta)
        if delta > 0 {
            if UInt64(delta) > Self.maxJump {
                restarts &+= 1
                restart(at: position)
                return
            }
            highest = position
            judgeDue()
        } else if position < judgedUpTo {
            // Behind the judged edge: late (already counted lost), or another run of the stream.
            if judgedUpTo &- position > Self.maxJump {
                restarts &+= 1
                restart(at: position)
            } else {
                lateArrivals &+= 1
            }
            return
        }
        let bit = Int(position % UInt64(Self.ringBits))
        ring[bit >> 6] |= 1 << UInt64(bit & 63)
    }

    /// Notes the decoder's running count of unrecoverable packets, so the residual is measured too.
    public func noteUnrecovered(total unrecovered: UInt64, now: UInt64) {
        advanceClock(now)
        guard unrecovered > lastUnrecovered else {
            lastUnrecovered = unrecovered
            return
        }
        let added = unrecovered &- lastUnrecovered
        lastUnrecovered = unrecovered
        buckets[Int(currentBucket % UInt64(Self.bucketCount))].unrecovered &+= added
        total.unrecovered &+= added
    }

    /// Forgets the stream (it was replaced): the next frame starts a new count; totals stay.
    public func reset() {
        started = false
        run = 0
    }

    /// The counts of the last `nanoseconds` (rounded up to whole buckets, the current partial one
    /// included; at most 64 s).
    public func window(nanoseconds: UInt64, now: UInt64) -> LossWindow {
        let nowBucket = now / Self.bucketNanoseconds
        let wanted = min(max(1, (nanoseconds + Self.bucketNanoseconds - 1) / Self.bucketNanoseconds), UInt64(Self.bucketCount))
        var sum = LossWindow()
        guard nowBucket >= currentBucket, nowBucket - currentBucket < wanted else { return sum }
        // Buckets from nowBucket - wanted + 1 to currentBucket, as far back as they are kept.
        let first = max(nowBucket + 1 >= wanted ? nowBucket + 1 - wanted : 0, oldestBucket)
        guard first <= currentBucket else { return sum }
        var bucket = first
        while bucket <= currentBucket {
            sum.add(buckets[Int(bucket % UInt64(Self.bucketCount))])
            bucket &+= 1
        }
        return sum
    }

    private func restart(at position: UInt64) {
        for word in 0..<(Self.ringBits / 64) { ring[word] = 0 }
        started = true
        highest = position
        judgedUpTo = position
        sampledUpTo = position
        sampledBefore = position
        lastSampleCongested = false
        congestedRanges.removeAll(keepingCapacity: true)
        run = 0
        let bit = Int(position % UInt64(Self.ringBits))
        ring[bit >> 6] |= 1 << UInt64(bit & 63)
    }

    @inline(__always)
    private func judge(_ position: UInt64) {
        let bit = Int(position % UInt64(Self.ringBits))
        let mask: UInt64 = 1 << UInt64(bit & 63)
        let received = ring[bit >> 6] & mask != 0
        ring[bit >> 6] &= ~mask
        let inCongestion = !congestedRanges.isEmpty && isCongested(position)
        // A burst is one kind or the other: it ends where congestion starts or stops.
        if inCongestion != runCongested {
            closeRun()
            runCongested = inCongestion
        }
        total.expected &+= 1
        if inCongestion {
            congested.expected &+= 1
        } else {
            buckets[Int(currentBucket % UInt64(Self.bucketCount))].expected &+= 1
        }
        if received {
            closeRun()
        } else {
            total.lost &+= 1
            if inCongestion {
                congested.lost &+= 1
            } else {
                buckets[Int(currentBucket % UInt64(Self.bucketCount))].lost &+= 1
            }
            run &+= 1
        }
    }

    @inline(__always)
    private func closeRun() {
        guard run > 0 else { return }
        total.bursts.record(length: run)
        if runCongested {
            congested.bursts.record(length: run)
        } else {
            buckets[Int(currentBucket % UInt64(Self.bucketCount))].bursts.record(length: run)
        }
        run = 0
    }

    @inline(__always)
    private func advanceClock(_ now: UInt64) {
        let bucket = now / Self.bucketNanoseconds
        guard bucket > currentBucket else { return }
        // Clear the buckets skipped over (at most all of them), then move on.
        let steps = min(bucket - currentBucket, UInt64(Self.bucketCount))
        var index: UInt64 = 1
        while index <= steps {
            buckets[Int((currentBucket &+ index) % UInt64(Self.bucketCount))] = LossWindow()
            index &+= 1
        }
        if total.expected == 0 && !started { oldestBucket = bucket }
        currentBucket = bucket
        if currentBucket &- oldestBucket >= UInt64(Self.bucketCount) { oldestBucket = currentBucket &+ 1 &- UInt64(Self.bucketCount) }
    }
}
