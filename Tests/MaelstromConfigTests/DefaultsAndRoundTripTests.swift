import MaelstromConfig
import MaelstromCore
import Testing

@Suite struct DefaultsAndRoundTripTests {
    static let bare = minimal("  address: 172.31.255.1/30\n  manage-routes: true\n  clamp-mss: true\n", "")

    @Test func defaultsAreFilledIn() throws {
        let (config, warnings) = try GatewayConfig.parse(yaml: Self.bare, file: "test.yaml")
        #expect(ofInterest(warnings).isEmpty)
        #expect(config.tunAddress == nil)
        #expect(config.manageRoutes && config.clampMSS)
        var fec = FECParameters.default
        fec.maxPacketSize = 1400
        #expect(config.fec == fec)
        // Adaptive by default: the window holds the ladder's codes of high r.
        #expect(config.decoder == DecoderParameters(for: fec, mode: .adaptive))
        #expect(config.decoder.windowPackets == 8192 && config.decoder.holdNanoseconds == 1_000_000_000)
        #expect(config.keepaliveInterval == 1_000_000_000 && config.peerTimeout == 3_000_000_000)
        #expect(config.metricsListen == nil)
        #expect(config.logLevel == .info)
    }

    @Test func emptySectionsMeanDefaults() throws {
        let (withEmpty, _) = try GatewayConfig.parse(yaml: Self.bare + "fec:\nkeepalive:\ndecoder:\nmetrics:\nlog:\n", file: "test.yaml")
        let (without, _) = try GatewayConfig.parse(yaml: Self.bare, file: "test.yaml")
        #expect(withEmpty == without)
    }

    @Test func decoderDefaultsFollowFEC() throws {
        let (config, _) = try GatewayConfig.parse(yaml: Self.bare + "fec:\n  r: 4\n  interleaves: [1, 5, 50, 500]\n", file: "test.yaml")
        #expect(config.fec.c == 4)
        #expect(config.decoder == DecoderParameters(for: config.fec))
    }

    @Test func fecWarningsCarryFileAndLine() throws {
        let (_, all) = try GatewayConfig.parse(yaml: minimalYAML + "fec:\n  r: 8\n  interleaves: [1, 5, 100]\n", file: "test.yaml")
        let warnings = ofInterest(all)
        let warning = try #require(warnings.first)
        #expect(warnings.count == 1)
        #expect(warning.line == 16 && warning.key == "fec.interleaves")
        #expect(warning.description.hasPrefix("test.yaml:16: fec.interleaves: layers 0 and 1 can share more than one packet"))
    }

    @Test func decoderOverridesThatDefeatTheCodeWarn() throws {
        let (_, warnings) = try GatewayConfig.parse(yaml: minimalYAML + "decoder:\n  window: 512\n  hold: 100ms\n", file: "test.yaml")
        #expect(ofInterest(warnings).map(\.key) == ["decoder.window", "decoder.hold"])
    }

    static let variants: [String] = [
        minimalYAML,
        Self.bare,
        // IPv6 everywhere, non-default everything, a name YAML would not read as a string unquoted.
        """
        tun:
          name: tun-fec.1
          mtu: 1300
          address: 2001:db8:ff::1/64
          manage-routes: false
          clamp-mss: false
        listen: "[2001:db8::1]:4500"
        wan-mtu: 9000
        lanes: 3
        peers:
          - name: "null"
            endpoint: "[2001:db8::6]:4501"
            subnets: [2001:db8:2::/48, 2001:db8:3::/48]
            lanes: 2
          - name: "1e3"
            endpoint: "[2001:db8::7]:4500"
            subnets: [2001:db8:4::/48]
        fec:
          r: 4
          interleaves: [1, 4, 13, 40]
          flush-after: 1.5ms
        keepalive:
          interval: 250ms
          peer-timeout: 1.5s
        decoder:
          window: 65536
          hold: 333333us
        limits:
          memory: 4GiB
        log:
          level: debug
        security: none

        """,
    ]

    @Test(arguments: variants) func effectiveYAMLRoundTrips(_ yaml: String) throws {
        let (config, _) = try GatewayConfig.parse(yaml: yaml, file: "test.yaml")
        let rendered = config.effectiveYAML()
        let (reparsed, _) = try GatewayConfig.parse(yaml: rendered, file: "effective.yaml")
        #expect(reparsed == config, "\(rendered)")
        #expect(reparsed.effectiveYAML() == rendered)
    }

    @Test func effectiveYAMLOfTheExampleIsTheExampleWithoutComments() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (path, key) = try ExampleFileTests.exampleCopy(in: files)
        let (config, _) = try GatewayConfig.load(path: path)
        let rendered = config.effectiveYAML()
        #expect(rendered.contains("security: noise\nprivate-key-file: \(files.directory)/private.key\n"))
        #expect(rendered.contains("    public-key: \(ExampleFileTests.examplePeerKey.base64)\n    # preshared-key-file: not set\n"))
        #expect(!rendered.contains(key.base64), "the effective config shows the private key")
        let (again, _) = try GatewayConfig.parse(yaml: rendered, file: "effective.yaml")
        #expect(again == config)
        #expect(rendered.contains("  flush-after: 5ms\n"))
        #expect(rendered.contains("    subnets: [10.2.0.0/24]\n"))
        #expect(rendered.contains("  window: 8192\n  hold: 1s\n"))
        #expect(rendered.contains("  recovery-budget: rtt\n"))
    }
}
