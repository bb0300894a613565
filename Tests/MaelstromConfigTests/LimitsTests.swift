import Foundation
import MaelstromConfig
import MaelstromCore
import Testing

/// Configs that used to pass `check` and then trap, spin or hang the daemon (issue #13).
@Suite struct LimitsTests {
    static let cases: [ErrorCase] = [
        ErrorCase(
            name: "derived decoder window too large",
            yaml: minimal("mtu: 1400", "mtu: 8900").replacing("wan-mtu: 1500", with: "wan-mtu: 9000")
                + "fec:\n  r: 255\n  interleaves: [65535]\n",
            code: .fec, line: 16, key: "fec.interleaves", says: "needs a decoder window of 33553920 packets, more than the largest (1048576)"),
        ErrorCase(
            name: "codec memory over the limit",
            yaml: minimalYAML + "decoder:\n  window: 1048576\n", code: .badValue, line: 15, key: "decoder.window",
            says: "more than limits.memory 1GiB"),
        ErrorCase(
            name: "memory limit below its floor", yaml: minimalYAML + "limits:\n  memory: 1MiB\n", code: .badValue, line: 15,
            key: "limits.memory", says: "must be between 16MiB and 1024GiB"),
        ErrorCase(
            name: "memory limit not a size", yaml: minimalYAML + "limits:\n  memory: lots\n", code: .badValue, line: 15,
            key: "limits.memory", says: "is not a size such as 512MiB"),
        ErrorCase(
            name: "keepalive interval near UInt64.max",
            yaml: minimalYAML + "keepalive:\n  interval: 18446744073709551614ns\n  peer-timeout: 18446744073709551615ns\n",
            code: .badValue, line: 15, key: "keepalive.interval", says: "must be between 10ms and 600s"),
        ErrorCase(
            name: "peer timeout too long", yaml: minimalYAML + "keepalive:\n  peer-timeout: 7200s\n",
            code: .badValue, line: 15, key: "keepalive.peer-timeout", says: "must be between 20ms and 3600s"),
        ErrorCase(
            name: "decoder hold too long", yaml: minimalYAML + "decoder:\n  hold: 1000s\n", code: .badValue, line: 15,
            key: "decoder.hold", says: "must be between 1ns and 120s"),
        ErrorCase(
            name: "port with a sign", yaml: minimal("0.0.0.0:4500", "0.0.0.0:+4500"), code: .badValue, line: 7, key: "listen",
            says: "is not ADDRESS:PORT"),
        ErrorCase(
            name: "prefix length with leading zeros", yaml: minimal("10.2.0.0/24", "10.2.0.0/000024"), code: .badValue, line: 12,
            key: "peers[0].subnets[0]", says: "prefix length '000024'"),
    ]

    @Test(arguments: cases) func refused(_ errorCase: ErrorCase) throws {
        let error = try #require(parseError(errorCase.yaml))
        #expect(error.code == errorCase.code, "\(error)")
        #expect(error.line == errorCase.line, "\(error)")
        #expect(error.key == errorCase.key, "\(error)")
        #expect(error.message.contains(errorCase.says), "\(error)")
    }

    @Test("the effective config printed for the largest codec that fits is read back unchanged")
    func effectiveConfigOfALargeCodeRoundTrips() throws {
        let yaml = minimalYAML + "fec:\n  r: 15\n  interleaves: [1, 100, 32000]\nlimits:\n  memory: 64GiB\n"
        let (config, _) = try GatewayConfig.parse(yaml: yaml, file: "test.yaml")
        #expect(config.decoder.windowPackets == 1_048_576)
        let (again, _) = try GatewayConfig.parse(yaml: config.effectiveYAML(), file: "effective.yaml")
        #expect(again == config)
    }

    @Test("YAML aliases are refused at once (the 498-byte file that hung the loader)")
    func aliasesAreRefused() throws {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        yaml += "? *a9\n: 1\n? *a8\n: 2\n"
        let started = ContinuousClock.now
        let error = try #require(parseError(yaml))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error.code == .syntax)
        #expect(error.line == 2)
        #expect(error.message.contains("alias '*a0' is not allowed"))
    }

    @Test("aliases are found only where YAML reads them: not in quotes, comments or block text")
    func aliasScanIsNotFooledByText() {
        #expect(parseError(minimalYAML + "# *not an alias\n") == nil)
        #expect(parseError(minimal("name: site-b", "name: \"site-b\"")) == nil)
        let merged = minimalYAML + "fec: &f\n  r: 8\nkeepalive: *f\n"
        #expect(parseError(merged)?.message.contains("alias '*f'") == true)
        let flow = minimal("[10.2.0.0/24]", "[*net]")
        #expect(parseError(flow)?.message.contains("alias '*net'") == true)
    }

    @Test("a config larger than 1 MiB is refused before it is parsed")
    func oversizedFileIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = minimalYAML + String(repeating: "# padding padding padding padding padding padding\n", count: 25_000)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try GatewayConfig.load(path: path) }
        do {
            _ = try GatewayConfig.load(path: path)
        } catch {
            #expect(error.code == .unreadable && error.message.contains("at most 1048576 bytes"), "\(error)")
        }
    }

    @Test("a directory given as the config says so")
    func directoryIsNamed() {
        do {
            _ = try GatewayConfig.load(path: "/tmp")
            Issue.record("a directory was accepted")
        } catch {
            #expect(error.code == .unreadable && error.message.contains("it is a directory"), "\(error)")
        }
    }
}

@Suite("Adaptive FEC config")
struct AdaptiveConfigTests {
    @Test("adaptive is the default; its knobs are read, and fixed is kept when asked")
    func keys() throws {
        let base = try GatewayConfig.parse(yaml: minimalYAML, file: "gw.yaml").config
        #expect(base.adaptation.mode == .adaptive)
        #expect(base.adaptation.targetResidual == 1e-6)
        let tuned = try GatewayConfig.parse(
            yaml: minimalYAML + "fec:\n  mode: fixed\n  target-residual: 1e-7\n  min-overhead: 0.05\n  max-overhead: 0.4\n  step-down-after: 3s\n",
            file: "gw.yaml").config
        #expect(tuned.adaptation.mode == .fixed)
        #expect(tuned.adaptation.targetResidual == 1e-7)
        #expect(tuned.adaptation.minOverhead == 0.05)
        #expect(tuned.adaptation.maxOverhead == 0.4)
        #expect(tuned.adaptation.stepDownAfterNanoseconds == 3_000_000_000)
        #expect(base.adaptation.recoveryBudget == .roundTrip)
        let budget = try GatewayConfig.parse(yaml: minimalYAML + "fec:\n  recovery-budget: 10ms\n", file: "gw.yaml").config
        #expect(budget.adaptation.recoveryBudget == .fixed(nanoseconds: 10_000_000))
        let rtt = try GatewayConfig.parse(yaml: minimalYAML + "fec:\n  recovery-budget: rtt\n", file: "gw.yaml").config
        #expect(rtt.adaptation.recoveryBudget == .roundTrip)
        // Fixed mode keeps the window its code needs; adaptive makes room for the ladder.
        #expect(tuned.decoder.windowPackets == 2048)
        #expect(base.decoder.windowPackets == DecoderParameters.adaptiveWindowPackets)
    }

    @Test("the adaptive window shrinks to fit limits.memory instead of failing; a window that is written does not")
    func windowFitsMemory() throws {
        // 9000-byte packets and 16 lanes of a peer: 8192 slots would need about 1.2 GiB of decoders.
        let jumbo = minimalYAML.replacingOccurrences(of: "mtu: 1400", with: "mtu: 9000").replacingOccurrences(of: "wan-mtu: 1500", with: "wan-mtu: 9100")
        let config = try GatewayConfig.parse(yaml: jumbo, file: "gw.yaml").config
        #expect(config.decoder.windowPackets < DecoderParameters.adaptiveWindowPackets)
        #expect(config.decoder.windowPackets >= DecoderParameters(for: config.fec).windowPackets)
        let written = parseError(jumbo + "decoder:\n  window: 8192\n")
        #expect(written.map { "\($0)" }?.contains("limits.memory") == true, "\(String(describing: written))")
        // The effective config reads back to the same window.
        let again = try GatewayConfig.parse(yaml: config.effectiveYAML(), file: "gw.yaml").config
        #expect(again.decoder == config.decoder)
    }

    @Test("bad adaptive keys name file, line and key")
    func errors() {
        for (text, key) in [
            ("fec:\n  mode: sometimes\n", "fec.mode"), ("fec:\n  target-residual: lots\n", "fec.target-residual"),
            ("fec:\n  min-overhead: 0.6\n  max-overhead: 0.5\n", "fec.min-overhead"), ("fec:\n  max-overhead: -1\n", "fec.max-overhead"),
            ("fec:\n  recovery-budget: soon\n", "fec.recovery-budget"), ("fec:\n  recovery-budget: 20s\n", "fec.recovery-budget"),
        ] {
            let error = parseError(minimalYAML + text)
            #expect(error != nil, "accepted \(text)")
            let message = error.map { "\($0)" } ?? ""
            #expect(message.contains("test.yaml:1") && message.contains(key), "\(message)")
        }
    }
}
