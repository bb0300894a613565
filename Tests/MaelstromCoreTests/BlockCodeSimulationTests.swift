import Foundation
import MaelstromCore
import Testing

/// The block-code model the recovery figure compares layered interleaving with (issue #11).
@Suite("Block-code simulation")
struct BlockCodeSimulationTests {
    private func simulate(_ code: (Int, Int), _ loss: String, packets: Int = 100_000) throws -> SimulationReport {
        let report = runBlockCodeSimulation(
            BlockCodeSimulationConfig(
                code: try BlockCode(dataPackets: code.0, parityPackets: code.1), loss: try LossModel.parse(loss),
                packets: packets, packetsPerSecond: 10_000, seed: 7))
        #expect(report.recovered + report.unrecovered == report.lostData)
        return report
    }

    @Test("no loss: nothing to rebuild, overhead H/K")
    func noLoss() throws {
        let report = try simulate((8, 3), "none", packets: 8_000)
        #expect(report.lostData == 0 && report.lostRepairs == 0 && report.recovered == 0)
        #expect(report.repairPackets == 3_000)
        #expect(abs(report.overhead - 0.375) < 1e-12)
    }

    // 8 + 3 = 11 frames a block and bursts every 1,100 frames: each burst starts a block's data.
    @Test("a burst of up to H frames in one block comes back whole; one more and the block is lost")
    func burstAgainstParity() throws {
        let fits = try simulate((8, 3), "burst:3,1100", packets: 80_000)
        #expect(fits.lostData > 200)
        #expect(fits.unrecovered == 0)
        let over = try simulate((8, 3), "burst:4,1100", packets: 80_000)
        #expect(over.lostData > 250)
        #expect(over.recovered == 0)
        #expect(over.unrecovered == over.lostData)
    }

    @Test("random loss: the residual an MDS code predicts, p · P(at least H of the other N−1 frames lost)")
    func randomLossMatchesTheory() throws {
        let p = 0.03, k = 8, h = 2
        let report = try simulate((k, h), "bernoulli:\(p)", packets: 2_000_000)
        let others = k + h - 1
        var atLeastH = 0.0
        for lost in h...others {
            atLeastH += binomial(others, lost) * pow(p, Double(lost)) * pow(1 - p, Double(others - lost))
        }
        let predicted = p * atLeastH
        #expect(report.residualLoss > 0)
        #expect(abs(report.residualLoss - predicted) / predicted < 0.1, "simulated \(report.residualLoss), predicted \(predicted)")
    }

    @Test("recovery waits for the block, whatever the burst: every rebuild within K packet times")
    func latencyBoundedByTheBlock() throws {
        for length in [1, 5, 20, 50, 100] {
            let report = try simulate((272, 102), "burst:\(length),2000")
            #expect(report.unrecovered == 0, "burst \(length)")
            #expect(report.recoveryLatencyPackets.max <= 271, "burst \(length)")
            #expect(report.recoveryLatencyMs.max <= 27.1 + 1e-9, "burst \(length)")
        }
    }

    @Test("what layering buys: single losses back far sooner than with a block code of equal overhead that survives bursts of 100")
    func layeredAgainstBlock() throws {
        let block = try simulate((272, 102), "burst:1,2000")
        let layered = runSimulation(
            SimulationConfig(
                parameters: FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400),
                loss: try LossModel.parse("burst:1,2000"), packets: 100_000, packetSize: 1400, packetsPerSecond: 10_000, seed: 7))
        #expect(layered.unrecovered == 0 && block.unrecovered == 0)
        #expect(abs(layered.overhead - block.overhead) < 0.01)
        #expect(layered.recoveryLatencyMs.p50 * 5 < block.recoveryLatencyMs.p50,
                "layered \(layered.recoveryLatencyMs.p50) ms, block \(block.recoveryLatencyMs.p50) ms")
    }

    @Test("block codes parse, and bad ones say what is wrong", arguments: ["8", "8,0", "0,3", "a,3", "8,3,1", "65000,600", ""])
    func badCodes(text: String) {
        #expect(throws: BlockCodeError.self) { try BlockCode.parse(text) }
    }

    @Test("a good code parses")
    func goodCode() throws {
        let code = try BlockCode.parse("272,102")
        #expect(code == (try BlockCode(dataPackets: 272, parityPackets: 102)))
        #expect(abs(code.overhead - 0.375) < 1e-12)
    }

    private func binomial(_ n: Int, _ k: Int) -> Double {
        var value = 1.0
        for i in 0..<k { value = value * Double(n - i) / Double(i + 1) }
        return value
    }
}
