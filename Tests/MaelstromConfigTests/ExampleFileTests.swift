import MaelstromConfig
import MaelstromCore
import Testing

@Suite struct ExampleFileTests {
    static let examplePath = #filePath.replacing("Tests/MaelstromConfigTests/ExampleFileTests.swift", with: "config/example.yaml")

    @Test func exampleFileLoadsWithoutWarnings() throws {
        let (config, warnings) = try GatewayConfig.load(path: Self.examplePath)
        #expect(warnings.isEmpty)
        #expect(config.tunName == "mael0")
        #expect(config.tunMTU == 1400)
        #expect(config.tunAddress?.description == "172.31.255.1/30")
        #expect(config.manageRoutes && config.clampMSS)
        #expect(config.listen == Endpoint("0.0.0.0:4500"))
        #expect(config.wanMTU == 1500)
        #expect(config.peers == [PeerConfig(name: "site-b", endpoint: Endpoint("192.0.2.6:4500")!, subnets: [IPPrefix("10.2.0.0/24")!])])
        var fec = FECParameters.default
        fec.maxPacketSize = 1400
        #expect(config.fec == fec)
        #expect(config.decoder == DecoderParameters(for: fec))
        #expect(config.keepaliveInterval == 1_000_000_000)
        #expect(config.peerTimeout == 3_000_000_000)
        #expect(config.metricsListen == Endpoint("127.0.0.1:9464"))
        #expect(config.logLevel == .info)
        #expect(config.clampedMSS == (ipv4: 1360, ipv6: 1340))
    }

    @Test func missingFileIsAConfigError() {
        #expect {
            _ = try GatewayConfig.load(path: "/nonexistent/maelstrom.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.code == .unreadable && error.file == "/nonexistent/maelstrom.yaml"
                && error.description == "/nonexistent/maelstrom.yaml: cannot read the file: No such file or directory"
        }
    }
}
