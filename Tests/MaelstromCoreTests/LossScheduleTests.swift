import MaelstromCore
import Testing

@Suite("Loss schedules")
struct LossScheduleTests {
    @Test("the issue's schedule reads as three phases, commas inside a model included")
    func parsesPhases() throws {
        let model = try LossModel.parse("schedule:20s=none,20s=bernoulli:0.01,20s=gilbert:0.0005,0.2")
        #expect(model == .schedule([
            LossPhase(durationNanoseconds: 20_000_000_000, model: .none),
            LossPhase(durationNanoseconds: 20_000_000_000, model: .bernoulli(p: 0.01)),
            LossPhase(durationNanoseconds: 20_000_000_000, model: .gilbert(p: 0.0005, r: 0.2)),
        ]))
        #expect(model.isTimed)
        #expect(try LossModel.parse(model.description) == model)
        #expect(abs(model.expectedLossRate - (0.01 + 0.0005 / 0.2005) / 3) < 1e-12)
        let mixed = try LossModel.parse("schedule:500ms=burst:2,10, 1.5s=none,2m=bernoulli:0.1")
        guard case .schedule(let phases) = mixed else { Issue.record("not a schedule"); return }
        #expect(phases.map(\.durationNanoseconds) == [500_000_000, 1_500_000_000, 120_000_000_000])
        #expect(phases[0].model == .burst(length: 2, every: 10))
    }

    @Test("bad schedules are refused with the reason", arguments: [
        ("schedule:", "DURATION=MODEL"),
        ("schedule:20x=none", "not a duration"),
        ("schedule:0s=none", "not a duration"),
        ("schedule:none", "DURATION=MODEL"),
        ("schedule:1s=schedule:1s=none", "cannot be a schedule"),
        ("schedule:1s=bernoulli:2", "between 0 and 1"),
        ("schedule:1s=none,2s=wobble:1", "unknown kind"),
    ])
    func refusesBadSchedules(text: String, reason: String) {
        #expect {
            _ = try LossModel.parse(text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("a process follows the phases in time and the last phase holds")
    func followsTime() throws {
        var process = LossProcess(model: try LossModel.parse("schedule:1s=none,1s=bernoulli:0.5,1s=burst:1,1"), seed: 3)
        var lostPerSecond = [0, 0, 0, 0]
        for step in 0..<40_000 {
            let time = UInt64(step) * 100_000  // 10,000 packets a second for 4 s
            if process.nextIsLost(at: time) { lostPerSecond[step / 10_000] += 1 }
        }
        #expect(lostPerSecond[0] == 0)
        #expect(lostPerSecond[1] > 4_700 && lostPerSecond[1] < 5_300)
        // burst:1,1 loses every packet after its first period; the third phase holds into the fourth second.
        #expect(lostPerSecond[2] == 9_999)
        #expect(lostPerSecond[3] == 10_000)
        #expect(process.phaseIndex == 2)
    }

    @Test("the WAN link applies a schedule on its own clock, from its origin")
    func wanLinkFollowsSchedule() throws {
        let origin: UInt64 = 5_000_000_000
        var link = try WANLink(
            configuration: WANLinkConfiguration(loss: try LossModel.parse("schedule:1s=none,1s=bernoulli:1")), origin: origin)
        var lost = [0, 0]
        for step in 0..<2_000 {
            if link.offer(length: 100, now: origin + UInt64(step) * 1_000_000) == .lost { lost[step / 1_000] += 1 }
        }
        #expect(lost == [0, 1_000])
    }

    @Test("the adaptive simulation follows a schedule: cheap when clean, protected under loss, cheap again")
    func adaptiveSimulationFollowsSchedule() throws {
        let report = runAdaptiveSimulation(
            AdaptiveSimulationConfig(
                code: FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400),
                adaptation: AdaptationSettings(mode: .adaptive),
                loss: try LossModel.parse("schedule:4s=none,6s=bernoulli:0.01,8s=none"),
                durationNanoseconds: 18_000_000_000, packetSize: 1400, packetsPerSecond: 10_000))
        #expect(report.deliveryErrors == 0)
        #expect(report.lossReports > 60)
        #expect(report.phases.count == 3)
        let clean = report.phases[0], lossy = report.phases[1], after = report.phases[2]
        #expect(clean.steadyOverhead <= 0.04, "clean phase spent \(clean.steadyOverhead)")
        #expect(clean.unrecovered == 0)
        #expect(lossy.measuredLoss > 0.007 && lossy.measuredLoss < 0.013)
        #expect(lossy.steadyOverhead >= 0.1, "lossy phase spent \(lossy.steadyOverhead)")
        #expect(lossy.steadyResidualLoss <= 1e-4, "lossy phase left \(lossy.steadyResidualLoss)")
        #expect(lossy.codeSwitches >= 1)
        #expect(after.codeSwitches >= 1)
        // The clean link's floor at 10,000 frames a second: two layers of r = 62 (stretched to 7.5 ms).
        #expect(after.codeAtEnd == "62[1,62]", "after the loss the code is \(after.codeAtEnd)")
        #expect(after.unrecovered == 0)
    }

    @Test("a fixed code in the same simulation keeps its overhead in every phase")
    func fixedSimulationKeepsCode() throws {
        let report = runAdaptiveSimulation(
            AdaptiveSimulationConfig(
                code: FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400),
                adaptation: AdaptationSettings(mode: .fixed), loss: try LossModel.parse("schedule:2s=none,3s=bernoulli:0.01"),
                durationNanoseconds: 5_000_000_000, packetSize: 200, packetsPerSecond: 5_000))
        #expect(report.deliveryErrors == 0)
        for phase in report.phases {
            #expect(abs(phase.overhead - 0.375) < 0.01, "phase \(phase.loss) spent \(phase.overhead)")
            #expect(phase.codeSwitches == 0)
            #expect(phase.codeAtEnd == "8[1,10,100]")
        }
    }
}
