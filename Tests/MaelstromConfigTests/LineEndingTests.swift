import MaelstromConfig
import Testing

/// libyaml ends lines at CR, CR LF, NEL, LS and PS as well as LF; the error lookups must agree
/// with it (a fuzzer found a config with CR line ends whose syntax error trapped the loader).
@Suite("Config line ends")
struct LineEndingTests {
    @Test("a syntax error in a config with CR, NEL, LS or PS line ends names its line and does not trap",
          arguments: ["\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"])
    func syntaxErrorWithOtherLineEnds(lineEnd: String) throws {
        // Line 3 lost its colon: libyaml notices on line 4, the loader names line 3.
        let yaml = ["tun:", "  name: mael0", "  mtu 1400 and more", "  address: 172.31.255.1/30", "listen: x"].joined(separator: lineEnd)
        let error = parseError(yaml)
        #expect(error?.code == .syntax)
        #expect(error.map { $0.line >= 1 && $0.line <= 5 } == true, "\(String(describing: error))")
    }

    @Test("the fuzzer's config: CR runs and bytes that are not UTF-8 give a syntax error")
    func fuzzerFinding() {
        let yaml = "tu\u{9A}\u{C5}\u{F5}400\n  addr\r\r\r\r\r\r\r\r\r\u{AA}\r\r\r\r\r\r\rtun:\n  n\u{FF}\u{FF}:(me an@"
        #expect(parseError(yaml) != nil)
    }
}
