import MaelstromCore
import Testing

@Suite("FEC parameters")
struct FECParametersTests {
    @Test("the default is r=8, c=3, interleaves 1,10,100 and is valid without warnings")
    func defaults() throws {
        let parameters = FECParameters.default
        #expect(parameters.r == 8 && parameters.c == 3 && parameters.interleaves == [1, 10, 100])
        #expect(try parameters.validate().isEmpty)
        #expect(parameters.nominalOverhead == 0.375)
    }

    @Test("r below 2 is refused", arguments: [-1, 0, 1, 256])
    func rangeOfR(r: Int) {
        var parameters = FECParameters.default
        parameters.r = r
        #expect(throws: FECParameterError.self) { try parameters.validate() }
        do {
            _ = try parameters.validate()
        } catch {
            #expect(error.code == .rOutOfRange)
            #expect(error.message.contains("\(r)"))
        }
    }

    @Test("interleaves must be strictly increasing", arguments: [[1, 1, 10], [10, 1], [1, 100, 50]])
    func increasingInterleaves(interleaves: [Int]) {
        var parameters = FECParameters.default
        parameters.interleaves = interleaves
        do {
            _ = try parameters.validate()
            Issue.record("accepted \(interleaves)")
        } catch {
            #expect(error.code == .interleavesNotIncreasing)
        }
    }

    @Test("no layers, too many layers and zero interleaves are refused")
    func layerCounts() {
        for interleaves in [[], Array(1...9), [0, 10]] {
            var parameters = FECParameters.default
            parameters.interleaves = interleaves
            #expect(throws: FECParameterError.self) { try parameters.validate() }
        }
    }

    @Test("overlapping layers are warned about, naming the interleave that would fix it")
    func crossLayerWarning() throws {
        var parameters = FECParameters.default
        parameters.interleaves = [1, 5, 100]
        let warnings = try parameters.validate()
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix("layers 0 and 1 can share more than one packet") == true)
        #expect(warnings.first?.contains("an interleave of 8 for layer 1") == true)
    }

    @Test("two layers share two packets exactly when the lower one reaches their least common multiple")
    func sharingRule() throws {
        // The old, sufficient rule ((r-1)·I < J) refused all three; their interleaves have few common factors.
        for (r, interleaves) in [(24, [1, 24, 37]), (16, [1, 16, 59]), (12, [1, 12, 78]), (8, [1, 10, 100])] {
            let code = FECParameters(r: r, interleaves: interleaves, flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400)
            #expect(try code.validate().isEmpty, "\(code)")
        }
        // lcm(16, 60) = 240 = 15 · 16: a bin of each can hold packets p and p + 240.
        let sharing = FECParameters(r: 16, interleaves: [1, 16, 60], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400)
        let warnings = try sharing.validate()
        #expect(warnings.count == 1 && warnings[0].hasPrefix("layers 1 and 2"), "\(warnings)")
        #expect(warnings.first?.contains("an interleave of 61 for layer 2") == true, "\(warnings)")
        // Brute force over packet positions: the rule says two bins can meet twice exactly when they can.
        for r in [3, 8, 16, 24] {
            for lower in 1...30 {
                for upper in (lower + 1)...90 {
                    var meetsTwice = false
                    outer: for a in 1..<r {
                        for b in 1..<r where a * lower == b * upper { meetsTwice = true; break outer }
                    }
                    #expect(FECParameters.canShareTwo(r: r, lower, upper) == meetsTwice, "r \(r), \(lower), \(upper)")
                }
            }
        }
    }

    @Test("deeper layers wait longer: the deadline scales with the interleave")
    func scaledDeadlines() {
        let parameters = FECParameters.default
        #expect(parameters.flushDeadline(layer: 0) == 5_000_000)
        #expect(parameters.flushDeadline(layer: 1) == 50_000_000)
        #expect(parameters.flushDeadline(layer: 2) == 500_000_000)
    }

    @Test("decoder parameters cover the deepest layer's span and validate")
    func decoderSizing() throws {
        let decoder = DecoderParameters(for: .default)
        #expect(decoder.windowPackets >= 2 * 9 * 100)
        #expect(decoder.windowPackets & (decoder.windowPackets - 1) == 0)
        #expect(decoder.holdNanoseconds >= 2 * 500_000_000)
        try decoder.validate()
        var bad = decoder
        bad.windowPackets = 1000
        #expect(throws: FECParameterError.self) { try bad.validate() }
    }
}
