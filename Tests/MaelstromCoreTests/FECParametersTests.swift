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
        #expect(warnings.first?.contains("at least 8") == true)
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
