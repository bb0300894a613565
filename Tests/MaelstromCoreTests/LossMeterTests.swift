import MaelstromCore
import Testing

/// Feeds `count` sequence numbers starting at `first` to `meter`, skipping those in `lost`, one
/// every `interval` nanoseconds from `start`.
private func feed(
    _ meter: LossMeter, first: UInt32 = 0, count: Int, lost: Set<Int>, start: UInt64 = 0, interval: UInt64 = 100_000
) {
    for index in 0..<count where !lost.contains(index) {
        meter.record(first &+ UInt32(truncatingIfNeeded: index), now: start + UInt64(index) * interval)
    }
}

@Suite("Loss meter")
struct LossMeterTests {
    @Test("burst lengths fall in power-of-two buckets")
    func buckets() {
        #expect(BurstHistogram.bucket(forLength: 1) == 0)
        #expect(BurstHistogram.bucket(forLength: 2) == 1)
        #expect(BurstHistogram.bucket(forLength: 3) == 2)
        #expect(BurstHistogram.bucket(forLength: 4) == 2)
        #expect(BurstHistogram.bucket(forLength: 5) == 3)
        #expect(BurstHistogram.bucket(forLength: 8) == 3)
        #expect(BurstHistogram.bucket(forLength: 9) == 4)
        #expect(BurstHistogram.bucket(forLength: 1 << 40) == BurstHistogram.bucketCount - 1)
        for bucket in 0..<(BurstHistogram.bucketCount - 1) {
            #expect(BurstHistogram.bucket(forLength: BurstHistogram.lowerLength(ofBucket: bucket)) == bucket)
            #expect(BurstHistogram.bucket(forLength: BurstHistogram.upperLength(ofBucket: bucket)) == bucket)
        }
    }

    @Test("single losses and bursts are counted from sequence gaps, once the horizon has passed them")
    func gapsAndBursts() {
        let meter = LossMeter()
        // Singles at 100 and 200, a burst of 3 at 300, a burst of 7 at 400.
        let lost = Set([100, 200, 300, 301, 302]).union(400..<407)
        feed(meter, count: 5000, lost: lost)
        let total = meter.total
        // The highest is 4999; everything more than the horizon below it is judged.
        #expect(total.expected == 4999 - LossMeter.horizon)
        #expect(total.lost == 12)
        #expect(total.bursts.total == 4)
        #expect(total.bursts.counts[0] == 2)
        #expect(total.bursts.counts[2] == 1)
        #expect(total.bursts.counts[3] == 1)
        #expect(abs(total.meanBurstLength - 3) < 1e-9)
    }

    @Test("frames reordered within the horizon are not lost; later ones are counted late")
    func reordering() {
        let meter = LossMeter()
        for index in 0..<4000 {
            // Swap neighbours: every pair arrives backwards.
            let sequence = index % 2 == 0 ? index + 1 : index - 1
            meter.record(UInt32(sequence), now: UInt64(index) * 1000)
        }
        #expect(meter.total.lost == 0)
        #expect(meter.total.expected > 2000)
        // Far behind the judged edge but within a restart's distance: late, and counted lost before.
        let lateMeter = LossMeter()
        feed(lateMeter, count: 5000, lost: [10])
        lateMeter.record(10, now: 1)
        #expect(lateMeter.total.lost == 1)
        #expect(lateMeter.lateArrivals == 1)
    }

    @Test("counts go on across the 32-bit wrap of sequence numbers")
    func wrapAround() {
        let meter = LossMeter()
        feed(meter, first: UInt32.max - 2000, count: 6000, lost: [2500, 2501])
        #expect(meter.total.lost == 2)
        #expect(meter.total.expected == 5999 - LossMeter.horizon)
        #expect(meter.restarts == 0)
    }

    @Test("a jump beyond the restart distance starts a new count instead of counting a huge loss")
    func restart() {
        let meter = LossMeter()
        feed(meter, count: 3000, lost: [])
        feed(meter, first: 1_000_000, count: 3000, lost: [])
        #expect(meter.total.lost == 0)
        #expect(meter.restarts == 1)
        meter.reset()
        feed(meter, first: 7, count: 3000, lost: [5])
        #expect(meter.total.lost == 1)
    }

    @Test("windows add up the buckets of the last seconds only")
    func windows() {
        let meter = LossMeter()
        // 20 s at 10,000 packets/s: 1 % loss in the first 10 s, none after.
        var lost = Set<Int>()
        for index in stride(from: 50, to: 100_000, by: 100) { lost.insert(index) }
        feed(meter, count: 200_000, lost: lost, interval: 100_000)
        let now: UInt64 = 19_999_900_000
        let lastSecond = meter.window(nanoseconds: 1_000_000_000, now: now)
        let lastMinute = meter.window(nanoseconds: 60_000_000_000, now: now)
        #expect(lastSecond.lost == 0)
        #expect(lastSecond.expected > 8000 && lastSecond.expected <= 10_000)
        #expect(lastMinute.lost == 1000)
        #expect(abs(lastMinute.lossRate - 1000.0 / Double(lastMinute.expected)) < 1e-12)
        // Long after the traffic stopped, every window is empty.
        #expect(meter.window(nanoseconds: 60_000_000_000, now: now + 100_000_000_000).expected == 0)
    }

    @Test("the residual is the decoder's unrecoverable count, added to the current bucket")
    func residual() {
        let meter = LossMeter()
        feed(meter, count: 5000, lost: [10, 11])
        meter.noteUnrecovered(total: 1, now: 400_000_000)
        meter.noteUnrecovered(total: 1, now: 450_000_000)
        #expect(meter.total.unrecovered == 1)
        #expect(meter.window(nanoseconds: 1_000_000_000, now: 500_000_000).unrecovered == 1)
    }
}

@Suite("Loss report frame")
struct LossReportFrameTests {
    private func sampleReport() -> LossReportFrame {
        var bursts = BurstHistogram()
        bursts.record(length: 1)
        bursts.record(length: 5)
        bursts.record(length: 5000)
        return LossReportFrame(
            stream: StreamID(77), shortMilliseconds: 1000, longMilliseconds: 10_000,
            short: LossWindow(expected: 16_000, lost: 21, bursts: bursts, unrecovered: 0),
            long: LossWindow(expected: 160_000, lost: 5006, bursts: bursts, unrecovered: 3))
    }

    @Test("a report survives writing and parsing, plaintext and sealed framing alike", arguments: [LossReportFrame.ShortWindowSpan.trailing, .sincePreviousReport])
    func roundTrip(span: LossReportFrame.ShortWindowSpan) throws {
        var report = sampleReport()
        report.shortSpan = span
        var header = [UInt8](repeating: 0, count: WireFormat.lossReportSize)
        header.withUnsafeMutableBytes { report.write(to: $0.baseAddress!) }
        let datagram = header.withUnsafeBytes { raw in
            WireFormat.plaintextFrame(type: .lossReport, lane: 2, header: raw, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let parsed = try datagram.withUnsafeBytes { raw in try Frame.parse(raw) }
        #expect(parsed.lane == 2)
        guard case .lossReport(let back) = parsed.frame else {
            Issue.record("parsed as another type")
            return
        }
        #expect(back == report)
    }

    @Test("a report claiming more lost than expected, or with a flag set other than the short window's span, is refused")
    func inconsistent() {
        let long = 8 + LossReportFrame.windowSize
        for (offset, value) in [(8 + 4, UInt8(0xFF)), (8 + 12, 1), (8 + 15, 2), (long + 8, 0xFF), (long + 15, 1)] {
            var header = [UInt8](repeating: 0, count: WireFormat.lossReportSize)
            header.withUnsafeMutableBytes { sampleReport().write(to: $0.baseAddress!) }
            header[offset] = value
            let datagram = header.withUnsafeBytes { raw in
                WireFormat.plaintextFrame(type: .lossReport, header: raw, payload: UnsafeRawBufferPointer(start: nil, count: 0))
            }
            #expect(throws: WireError(.badLossReport)) { try datagram.withUnsafeBytes { raw in _ = try Frame.parse(raw) } }
        }
    }

    @Test("a window counting more unrecovered than expected (congestion left out) is written so that it parses")
    func writesConsistent() throws {
        var window = LossWindow()
        window.expected = 10
        window.lost = 3
        window.unrecovered = 25
        let report = LossReportFrame(stream: StreamID(9), shortMilliseconds: 1000, longMilliseconds: 10_000, short: window, long: window)
        var header = [UInt8](repeating: 0, count: WireFormat.lossReportSize)
        header.withUnsafeMutableBytes { report.write(to: $0.baseAddress!) }
        let datagram = header.withUnsafeBytes { raw in
            WireFormat.plaintextFrame(type: .lossReport, header: raw, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let parsed = try datagram.withUnsafeBytes { raw -> LossReportFrame? in
            if case .lossReport(let frame) = try Frame.parse(raw).frame { return frame }
            return nil
        }
        #expect(parsed?.short.unrecovered == 10)
        #expect(parsed?.short.lost == 3)
    }

    @Test("a truncated report is refused")
    func truncated() {
        var header = [UInt8](repeating: 0, count: WireFormat.lossReportSize)
        header.withUnsafeMutableBytes { sampleReport().write(to: $0.baseAddress!) }
        let datagram = header.withUnsafeBytes { raw in
            WireFormat.plaintextFrame(type: .lossReport, header: raw, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let cut = Array(datagram.dropLast(4))
        #expect(throws: WireError.self) { try cut.withUnsafeBytes { raw in _ = try Frame.parse(raw) } }
    }
}

@Suite("Loss meter and congestion")
struct LossMeterCongestionTests {
    /// 10 s at 10,000 packets/s with a delay sample every 500 packets (50 ms), congested for the
    /// samples in `congestedSamples`; loses `lost`.
    private func run(lost: Set<Int>, congestedSamples: Range<Int>) -> LossMeter {
        let meter = LossMeter()
        for index in 0..<100_000 {
            if !lost.contains(index) { meter.record(UInt32(index), now: UInt64(index) * 100_000) }
            if index % 500 == 499 { meter.noteDelaySample(congested: congestedSamples.contains(index / 500)) }
        }
        return meter
    }

    @Test("losses while the queue is full stay out of the windows and are counted apart; others stay in")
    func excludesCongestion() {
        // Samples 100–103 (5.0–5.2 s) find the queue full; a third of those packets are lost there,
        // and one packet in 1,000 everywhere.
        let overflow = Set((50_000..<52_000).filter { $0 % 3 == 0 })
        let spread = Set(stride(from: 7, to: 100_000, by: 1000))
        let meter = run(lost: overflow.union(spread), congestedSamples: 100..<104)
        let now: UInt64 = 9_999_900_000
        let window = meter.window(nanoseconds: 10_000_000_000, now: now)
        // Each sample marks up to the highest packet received by then. The congested samples
        // 100–103 mark from sample 98 on (one interval before), and sample 104 after them too.
        let all = overflow.union(spread)
        func highest(atSample sample: Int) -> Int { (0...(sample * 500 + 499)).reversed().first { !all.contains($0) }! }
        let marked = (highest(atSample: 98) + 1)...highest(atSample: 104)
        let lostThere = all.filter { marked.contains($0) }
        #expect(meter.congested.expected == UInt64(marked.count))
        #expect(meter.congested.lost == UInt64(lostThere.count))
        #expect(meter.total.lost == window.lost + meter.congested.lost)
        #expect(window.expected + meter.congested.expected == meter.total.expected)
        // 51,006 and 51,007 are lost together: one burst of two.
        #expect(meter.congested.bursts.total == UInt64(lostThere.count - 1))
        #expect(abs(window.lossRate - 0.001) < 0.0002, "\(window.lossRate)")
        // 51,006 and 51,007 are lost together: one burst of two.
        #expect(meter.congested.bursts.total == UInt64(lostThere.count - 1))
    }

    @Test("losses wait through lost delay probes for the next sample, so a long overflow is marked whole")
    func waitsThroughLostProbes() {
        // 20,000 pps for 1 s, a probe every 1,000 packets; the queue overflows from packet 10,000
        // to 18,000 (every other packet lost) and the probes there are lost too, but for the one
        // at 19,000, which finds the queue still full.
        let meter = LossMeter()
        let overflow = 10_000..<18_000
        for index in 0..<40_000 {
            let lost = overflow.contains(index) && index % 2 == 0
            if !lost { meter.record(UInt32(index), now: UInt64(index) * 50_000) }
            guard index % 1000 == 999, !overflow.contains(index) else { continue }
            meter.noteDelaySample(congested: index == 18_999)
        }
        #expect(meter.total.lost == 4000)
        #expect(meter.congested.lost == 4000, "lost probes must not let an overflow's losses through as the link's")
        #expect(meter.window(nanoseconds: 4_000_000_000, now: 1_999_950_000).lost == 0)
    }

    @Test("without congested samples every loss is in the windows")
    func keepsAllWithoutCongestion() {
        let lost = Set((50_000..<52_000).filter { $0 % 3 == 0 })
        let meter = run(lost: lost, congestedSamples: 0..<0)
        #expect(meter.congested.expected == 0)
        #expect(meter.window(nanoseconds: 10_000_000_000, now: 9_999_900_000).lost == UInt64(lost.count))
    }

    @Test("the queue estimator finds the minimum, the queue above it, and calls only a full queue congested")
    func queueEstimator() {
        var estimator = QueueDelayEstimator(threshold: 5_000_000)
        let offset: UInt64 = 123_456_789_000  // the peer's clock is elsewhere: only differences count
        var now: UInt64 = 1_000_000_000
        func sample(queueMilliseconds: UInt64) -> Bool {
            now += 50_000_000
            let sentAt = now - 25_000_000 - queueMilliseconds * 1_000_000 + offset
            return estimator.sample(sentAt: sentAt, now: now)
        }
        var clean = 0
        for _ in 0..<20 where !sample(queueMilliseconds: 0) { clean += 1 }
        #expect(clean == 20)
        let small = sample(queueMilliseconds: 3)  // below the threshold
        #expect(!small)
        #expect(estimator.queueDelay == 3_000_000)
        let full = sample(queueMilliseconds: 100)
        #expect(full)
        let draining = sample(queueMilliseconds: 30)  // under half the peak
        #expect(!draining)
        let high = sample(queueMilliseconds: 80)
        #expect(high)
        // Long after, the old minimum and peak are gone: a standing 40 ms queue reads as the minimum.
        now += 70_000_000_000
        for _ in 0..<5 { _ = sample(queueMilliseconds: 40) }
        #expect(estimator.queueDelay == 0)
        var off = QueueDelayEstimator(threshold: 0)
        let first = off.sample(sentAt: 0, now: 1)
        let second = off.sample(sentAt: 0, now: 100_000_000)
        #expect(!first && !second)
    }
}

@Suite("Loss meter running counts")
struct LossMeterRunningCountTests {
    @Test("what a meter judged since an earlier reading is the difference of its running counts, congestion left out")
    func sinceReading() {
        let meter = LossMeter()
        // 0..<3000 with 10 single losses, then 3000..<6000 with 30 single losses.
        for index in 0..<6000 where !(index < 3000 ? index % 300 == 7 : index % 100 == 7) {
            meter.record(UInt32(index), now: UInt64(index) * 62_500)
        }
        let first = meter.judgedOutsideCongestion
        for index in 6000..<9000 where index % 100 != 7 { meter.record(UInt32(index), now: UInt64(index) * 62_500) }
        let slice = meter.judgedOutsideCongestion.since(first)
        #expect(slice.expected == 3000)
        #expect(slice.lost == 30 && slice.bursts.total == 30 && slice.bursts.counts[0] == 30)
        #expect(first.since(meter.judgedOutsideCongestion) == LossWindow())
    }
}
