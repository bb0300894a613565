import MaelstromConfig
import Testing

/// Durations are read through `decoder.hold`, whose only own rule is 1 ns to 120 s.
@Suite struct DurationTests {
    static func hold(_ text: String) -> String { minimalYAML + "decoder:\n  hold: \(text)\n" }

    @Test(arguments: [
        ("5ms", 5_000_000), ("500us", 500_000), ("1.5s", 1_500_000_000), ("250ns", 250), ("0.25ms", 250_000),
        ("1.000s", 1_000_000_000), ("10s", 10_000_000_000), ("0.000000001s", 1),
    ] as [(String, UInt64)])
    func parses(_ text: String, _ nanoseconds: UInt64) throws {
        let (config, _) = try GatewayConfig.parse(yaml: Self.hold(text), file: "test.yaml")
        #expect(config.decoder.holdNanoseconds == nanoseconds)
    }

    @Test(arguments: ["5", "5 ms", "ms", "5m", "1h", "-1s", "+1s", "1.s", ".5s", "1e3ms", "5MS", "1,5s", "1.5ns", "0.0000000001s",
                      "99999999999s", "0s"])
    func refuses(_ text: String) throws {
        let error = try #require(parseError(Self.hold(text)))
        #expect(error.code == .badValue, "\(error)")
        #expect(error.line == 15 && error.key == "decoder.hold", "\(error)")
    }

    @Test func refusesAList() throws {
        let error = try #require(parseError(Self.hold("[5ms]")))
        #expect(error.code == .wrongType && error.key == "decoder.hold")
    }
}
