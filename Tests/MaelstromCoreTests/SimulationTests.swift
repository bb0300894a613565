import MaelstromCore
import Testing

/// The figures issue #2 asks `maelstromd simulate` for, checked on every test run (fewer packets
/// than the 1,000,000 of docs/CODEC.md, to keep a debug build quick; same seeds and code).
@Suite("Simulation acceptance")
struct SimulationTests {
    private func simulate(_ loss: String, packets: Int = 300_000) throws -> SimulationReport {
        let config = SimulationConfig(
            parameters: FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400),
            loss: try LossModel.parse(loss), packets: packets, packetSize: 1400, packetsPerSecond: 10_000, seed: 1)
        let report = runSimulation(config)
        #expect(report.deliveryErrors == 0)
        #expect(report.recovered + report.unrecovered == report.lostData)
        return report
    }

    @Test("bernoulli 0.1%: nothing lost for good, single losses back within about r packets")
    func lightRandomLoss() throws {
        let report = try simulate("bernoulli:0.001")
        #expect(report.lostData > 200)
        #expect(report.residualLoss <= 1e-6)
        #expect(report.recoveryLatencyPackets.p50 <= 12)
    }

    @Test("bernoulli 1%: over 99.5% of losses rebuilt at overhead ≤ 0.40")
    func heavyRandomLoss() throws {
        let report = try simulate("bernoulli:0.01")
        #expect(report.residualLoss <= 5e-5)
        #expect(report.overhead <= 0.40)
    }

    @Test("bursts of 50 every 2000 frames: every packet comes back")
    func bursts() throws {
        let report = try simulate("burst:50,2000")
        #expect(report.lostData > 5000)
        #expect(report.unrecovered == 0)
    }

    @Test("Gilbert–Elliott bursts: residual loss ≤ 1e-5")
    func gilbert() throws {
        let report = try simulate("gilbert:0.0005,0.2")
        #expect(report.residualLoss <= 1e-5)
    }

    @Test("no loss: nothing to recover, overhead c/r")
    func noLoss() throws {
        let report = try simulate("none", packets: 10_000)
        #expect(report.lostData == 0 && report.unrecovered == 0)
        #expect(abs(report.overhead - 0.375) < 0.01)
    }

    @Test("loss models parse, and bad ones say what is wrong", arguments: [
        "bernoulli", "bernoulli:2", "gilbert:0.1", "burst:5,2", "burst:1.5,10", "nope:1", "none:3", "trace:",
    ])
    func badLossModels(text: String) {
        #expect(throws: LossModelError.self) { try LossModel.parse(text) }
    }

    @Test("loss processes follow their models")
    func lossProcesses() throws {
        var burst = LossProcess(model: try LossModel.parse("burst:3,10"), seed: 1)
        let pattern = (0..<30).map { _ in burst.nextIsLost() }
        #expect(pattern == (0..<30).map { $0 >= 10 && $0 % 10 < 3 })
        var trace = LossProcess(model: try LossModel.parseTrace("0 1\n1,0", source: "t"), seed: 1)
        #expect((0..<6).map { _ in trace.nextIsLost() } == [false, true, true, false, false, true])
        var bernoulli = LossProcess(model: .bernoulli(p: 0.1), seed: 9)
        let lost = (0..<100_000).filter { _ in bernoulli.nextIsLost() }.count
        #expect(abs(Double(lost) / 100_000 - 0.1) < 0.01)
        var gilbert = LossProcess(model: .gilbert(p: 0.01, r: 0.25), seed: 9)
        let gilbertLost = (0..<200_000).filter { _ in gilbert.nextIsLost() }.count
        #expect(abs(Double(gilbertLost) / 200_000 - 0.01 / 0.26) < 0.01)
        #expect(throws: LossModelError.self) { try LossModel.parseTrace("0 1 x", source: "t") }
    }
}
