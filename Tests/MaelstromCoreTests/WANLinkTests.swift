import CAllocationCounter
import MaelstromCore
import Testing

private let ms: UInt64 = 1_000_000
private let us: UInt64 = 1_000

/// 8 Mbit/s is one byte per microsecond, so serialisation times are whole and easy to check by hand.
private let oneBytePerMicrosecond: UInt64 = 8_000_000

private func link(
    delay: UInt64 = 0, jitter: UInt64 = 0, rate: UInt64 = 0, queue: UInt64 = 1_000_000,
    loss: LossModel = .none, seed: UInt64 = 1, reorder: Bool = false
) throws(WANLinkError) -> WANLink {
    try WANLink(configuration: WANLinkConfiguration(
        delayNanoseconds: delay, jitterNanoseconds: jitter, rateBitsPerSecond: rate, queueBytes: queue,
        loss: loss, seed: seed, allowReorder: reorder))
}

private func departure(_ verdict: WANLink.Verdict) -> UInt64? {
    if case .accepted(let departure) = verdict { return departure }
    return nil
}

@Suite("WANLink: the emulated link's per-packet decisions")
struct WANLinkTests {
    @Test("without rate, loss or jitter a packet leaves exactly one delay after it arrived")
    func pureDelay() throws {
        var wan = try link(delay: 25 * ms)
        #expect(wan.offer(length: 100, now: 1_000) == .accepted(departure: 1_000 + 25 * ms))
        #expect(wan.offer(length: 1400, now: 1_000) == .accepted(departure: 1_000 + 25 * ms))
        #expect(wan.offer(length: 60, now: 7 * ms) == .accepted(departure: 32 * ms))
        var expected = WANLink.Counters()
        expected.offered = 3
        expected.delivered = 3
        expected.bytes = 1560
        #expect(wan.counters == expected)
    }

    @Test("the loss model decides first: burst:2,5 loses packets 5, 6, 10 and 11 of twelve")
    func burstLoss() throws {
        var wan = try link(delay: ms, loss: .burst(length: 2, every: 5))
        let lost = (0..<12).filter { wan.offer(length: 100, now: UInt64($0) * us) == .lost }
        #expect(lost == [5, 6, 10, 11])
        #expect(wan.counters.lostModel == 4)
        #expect(wan.counters.delivered == 8)
        #expect(wan.counters.bytes == 800)
    }

    @Test("Bernoulli loss follows the seeded LossProcess packet for packet")
    func bernoulliMatchesLossProcess() throws {
        var wan = try link(delay: ms, loss: .bernoulli(p: 0.1), seed: 42)
        var reference = LossProcess(model: .bernoulli(p: 0.1), seed: 42)
        for i in 0..<10_000 {
            let expectLost = reference.nextIsLost()
            #expect((wan.offer(length: 500, now: UInt64(i) * us) == .lost) == expectLost)
        }
        #expect(wan.counters.lostModel > 900 && wan.counters.lostModel < 1100)
        #expect(wan.counters.lostModel + wan.counters.delivered == 10_000)
    }

    @Test("the rate limiter spaces departures by serialisation time, after the delay")
    func rateSpacing() throws {
        var wan = try link(delay: 10 * ms, rate: oneBytePerMicrosecond)
        #expect(wan.offer(length: 1000, now: 0) == .accepted(departure: 11 * ms))
        #expect(wan.offer(length: 1000, now: 0) == .accepted(departure: 12 * ms))
        #expect(wan.offer(length: 500, now: 100 * us) == .accepted(departure: 12 * ms + 500 * us))
        // Once the link has drained, a packet sees only delay plus its own serialisation.
        #expect(wan.offer(length: 1000, now: 100 * ms) == .accepted(departure: 111 * ms))
    }

    @Test("serialisation carries the division remainder, so the long-run rate is exact")
    func rateRemainder() throws {
        var wan = try link(rate: 3_000_000)
        // 8 bits at 3 Mbit/s is 2666.67 ns: 2666, then 2667, 2667; three packets take exactly 8 µs.
        let departures = (0..<3).compactMap { _ in departure(wan.offer(length: 1, now: 0)) }
        #expect(departures == [2_666, 5_333, 8_000])
    }

    @Test("the drop-tail queue holds its size in bytes waiting for the rate limiter, no more")
    func dropTail() throws {
        var wan = try link(rate: oneBytePerMicrosecond, queue: 2_500)
        #expect(wan.offer(length: 1000, now: 0) == .accepted(departure: 1 * ms))
        #expect(wan.backlogBytes(now: 0) == 1000)
        #expect(wan.offer(length: 1000, now: 0) == .accepted(departure: 2 * ms))
        #expect(wan.backlogBytes(now: 0) == 2000)
        #expect(wan.offer(length: 1000, now: 0) == .queueFull)
        // Half a millisecond later 500 bytes have drained: exactly room for 1000 more.
        #expect(wan.backlogBytes(now: 500 * us) == 1500)
        #expect(wan.offer(length: 1000, now: 500 * us) == .accepted(departure: 3 * ms))
        #expect(wan.offer(length: 1, now: 500 * us) == .queueFull)
        #expect(wan.counters.droppedQueue == 2)
        #expect(wan.counters.delivered == 3)
        #expect(wan.counters.bytes == 3000)
        #expect(wan.backlogBytes(now: 10 * ms) == 0)
    }

    @Test("the queue is measured past the delay: a long link does not count its packets in flight as queued")
    func queueExcludesPropagation() throws {
        var wan = try link(delay: 50 * ms, rate: oneBytePerMicrosecond, queue: 1_500)
        // 100 packets 1 ms apart at exactly the line rate: none waits, so none is dropped.
        for i in 0..<100 {
            let now = UInt64(i) * ms
            #expect(wan.offer(length: 1000, now: now) == .accepted(departure: now + 51 * ms))
        }
        #expect(wan.counters.droppedQueue == 0)
    }

    @Test("lost packets take no room in the queue")
    func lostPacketsDoNotQueue() throws {
        var wan = try link(rate: oneBytePerMicrosecond, queue: 1_000, loss: .trace([true]))
        for _ in 0..<10 { #expect(wan.offer(length: 1000, now: 0) == .lost) }
        #expect(wan.backlogBytes(now: 0) == 0)
    }

    @Test("jitter stays within ±J and, without reordering, departures never go backwards")
    func jitterWithoutReorder() throws {
        var wan = try link(delay: 10 * ms, jitter: 1 * ms, seed: 7)
        var last: UInt64 = 0
        for i in 0..<2_000 {
            let now = UInt64(i) * 10 * us
            let leaves = try #require(departure(wan.offer(length: 200, now: now)))
            #expect(leaves >= now + 9 * ms && leaves <= now + 11 * ms)
            #expect(leaves >= last)
            last = leaves
        }
    }

    @Test("packets further apart than 2J get the full uniform spread of delay ± J")
    func jitterSpread() throws {
        var wan = try link(delay: 10 * ms, jitter: 1 * ms, seed: 7)
        var lowest = UInt64.max
        var highest: UInt64 = 0
        var sum: UInt64 = 0
        for i in 0..<2_000 {
            let now = UInt64(i) * 3 * ms
            let delay = try #require(departure(wan.offer(length: 200, now: now))) - now
            lowest = min(lowest, delay)
            highest = max(highest, delay)
            sum += delay
        }
        #expect(lowest >= 9 * ms && lowest < 9_010 * us)
        #expect(highest <= 11 * ms && highest > 10_990 * us)
        // The mean of a uniform ±1 ms over 2000 draws is within 0.05 ms of the delay (about 4 sigma).
        #expect(sum / 2_000 > 9_950 * us && sum / 2_000 < 10_050 * us)
    }

    @Test("with reordering allowed, jitter alone decides and some packets overtake others")
    func jitterWithReorder() throws {
        var wan = try link(delay: 10 * ms, jitter: 1 * ms, seed: 7, reorder: true)
        var previous: UInt64 = 0
        var overtaken = 0
        for i in 0..<2_000 {
            let now = UInt64(i) * 10 * us
            let leaves = try #require(departure(wan.offer(length: 200, now: now)))
            #expect(leaves >= now + 9 * ms && leaves <= now + 11 * ms)
            if leaves < previous { overtaken += 1 }
            previous = leaves
        }
        #expect(overtaken > 500)
    }

    @Test("jitter wider than the delay never sends a packet before it arrived")
    func jitterClampedAtArrival() throws {
        var wan = try link(delay: 100 * us, jitter: 1 * ms, seed: 3, reorder: true)
        var atArrival = 0
        for i in 0..<1_000 {
            let now = 5 * ms + UInt64(i) * us
            let leaves = try #require(departure(wan.offer(length: 64, now: now)))
            #expect(leaves >= now && leaves <= now + 1_100 * us)
            if leaves == now { atArrival += 1 }
        }
        #expect(atArrival > 300)
    }

    @Test("with a rate, jitter never reorders and departures keep at least the serialisation spacing")
    func jitterWithRate() throws {
        var wan = try link(delay: 5 * ms, jitter: 500 * us, rate: oneBytePerMicrosecond, seed: 9, reorder: true)
        var last: UInt64 = 0
        for i in 0..<1_000 {
            let leaves = try #require(departure(wan.offer(length: 100, now: UInt64(i) * 50 * us)))
            if i > 0 { #expect(leaves >= last + 100 * us) }
            last = leaves
        }
    }

    @Test("enabling jitter does not change which packets the loss model drops")
    func jitterIndependentOfLoss() throws {
        var plain = try link(delay: ms, loss: .bernoulli(p: 0.2), seed: 11)
        var jittery = try link(delay: ms, jitter: 300 * us, loss: .bernoulli(p: 0.2), seed: 11)
        for i in 0..<2_000 {
            let now = UInt64(i) * us
            #expect((plain.offer(length: 80, now: now) == .lost) == (jittery.offer(length: 80, now: now) == .lost))
        }
    }

    @Test("equal seeds give equal runs")
    func deterministic() throws {
        var a = try link(delay: 3 * ms, jitter: 200 * us, rate: 50_000_000, queue: 20_000,
                         loss: .gilbert(p: 0.01, r: 0.3), seed: 5)
        var b = a
        for i in 0..<5_000 {
            let now = UInt64(i) * 20 * us
            let length = 64 + (i * 37) % 1400
            #expect(a.offer(length: length, now: now) == b.offer(length: length, now: now))
        }
        #expect(a.counters == b.counters)
        let c = a.counters
        #expect(c.offered == c.lostModel + c.droppedQueue + c.delivered)
    }

    @Test("out-of-range settings are refused with a code and a message")
    func validation() {
        #expect(throws: WANLinkError(.delayOutOfRange, "delay 60000000001 ns exceeds the limit of 60000000000 ns")) {
            try link(delay: 60_000_000_001)
        }
        do {
            _ = try link(jitter: UInt64.max)
            Issue.record("an endless jitter was accepted")
        } catch {
            #expect(error.code == .jitterOutOfRange)
        }
        do {
            _ = try link(rate: 2_000_000_000_000)
            Issue.record("a 2 Tbit/s rate was accepted")
        } catch {
            #expect(error.code == .rateOutOfRange)
        }
        do {
            _ = try link(queue: 0)
            Issue.record("an empty queue was accepted")
        } catch {
            #expect(error.code == .queueOutOfRange)
            #expect(error.message.contains("queue of 0 bytes"))
        }
    }

    @Test("offering packets allocates nothing, whatever the model")
    func noAllocation() throws {
        let models: [LossModel] = [.none, .bernoulli(p: 0.01), .gilbert(p: 0.01, r: 0.2), .burst(length: 3, every: 100),
                                   .trace([false, true, false])]
        for model in models {
            var wan = try link(delay: 25 * ms, jitter: 50 * us, rate: 1_000_000_000, queue: 100_000, loss: model)
            var accepted = 0
            allocation_counter_start()
            for i in 0..<10_000 {
                if case .accepted = wan.offer(length: 1400, now: UInt64(i) * 11 * us) { accepted += 1 }
            }
            let allocations = allocation_counter_stop()
            #expect(allocations == 0, "\(model)")
            #expect(accepted > 0)
        }
    }

    @Test("outages lose everything inside their windows, counted from the origin, and nothing outside")
    func outages() throws {
        var wan = try WANLink(
            configuration: WANLinkConfiguration(
                delayNanoseconds: 10 * ms, outages: [WANOutage(startNanoseconds: 100 * ms, durationNanoseconds: 50 * ms)]),
            origin: 1_000 * ms)
        #expect(wan.offer(length: 100, now: 1_099 * ms) == .accepted(departure: 1_109 * ms))
        #expect(wan.offer(length: 100, now: 1_100 * ms) == .outage)
        #expect(wan.offer(length: 100, now: 1_149 * ms) == .outage)
        #expect(wan.offer(length: 100, now: 1_150 * ms) == .accepted(departure: 1_160 * ms))
        #expect(wan.counters.lostOutage == 2 && wan.counters.delivered == 2)
        #expect(WANOutage(text: "20+5") == WANOutage(startNanoseconds: 20_000 * ms, durationNanoseconds: 5_000 * ms))
        for bad in ["", "5", "+5", "5+", "5+0", "-1+2", "1+2+3", "x+1", "inf+1", "99999999+1"] {
            #expect(WANOutage(text: bad) == nil, "\(bad)")
        }
    }

    @Test("duplication and reordering happen at about their probabilities, change no loss, and a held-back packet is overtaken")
    func duplicationAndReordering() throws {
        let count = 100_000
        var plain = try link(delay: 10 * ms, loss: .bernoulli(p: 0.01), seed: 3)
        var impaired = try WANLink(configuration: WANLinkConfiguration(
            delayNanoseconds: 10 * ms, loss: .bernoulli(p: 0.01), seed: 3, duplicateProbability: 0.01,
            reorderProbability: 0.01, reorderDelayNanoseconds: 20 * ms))
        var overtaken = 0
        var latestOrdinary: UInt64 = 0
        var heldBack: [UInt64] = []
        for index in 0..<count {
            let now = UInt64(index) * 100 * us
            let expectedLost = plain.offer(length: 1000, now: now) == .lost
            let verdict = impaired.offer(length: 1000, now: now)
            #expect((verdict == .lost) == expectedLost)
            switch verdict {
            case .accepted(let departure) where departure > now + 10 * ms:
                #expect(departure <= now + 30 * ms)
                heldBack.append(departure)
            case .accepted(let departure), .duplicated(let departure):
                #expect(departure == now + 10 * ms)
                latestOrdinary = departure
                overtaken += heldBack.filter { $0 > departure }.isEmpty ? 0 : 1
                heldBack.removeAll { $0 <= latestOrdinary }
            default:
                break
            }
        }
        #expect(abs(Double(impaired.counters.duplicated) / Double(count) - 0.0099) < 0.002)
        #expect(abs(Double(impaired.counters.reordered) / Double(count) - 0.0099) < 0.002)
        #expect(overtaken > 0, "no packet overtook a held-back one")
        #expect(impaired.counters.lostModel == plain.counters.lostModel)
        do {
            _ = try WANLink(configuration: WANLinkConfiguration(duplicateProbability: 1.5))
            Issue.record("a duplicate probability of 1.5 was accepted")
        } catch {
            #expect(error.code == .probabilityOutOfRange)
        }
        do {
            _ = try WANLink(configuration: WANLinkConfiguration(reorderProbability: 0.1))
            Issue.record("reordering without a delay was accepted")
        } catch {
            #expect(error.code == .delayOutOfRange)
        }
    }
}
