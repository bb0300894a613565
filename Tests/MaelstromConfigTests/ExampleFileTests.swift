import Foundation
import MaelstromConfig
import MaelstromCore
import MaelstromSecurity
import Testing

@Suite struct ExampleFileTests {
    static let examplePath = #filePath.replacing("Tests/MaelstromConfigTests/ExampleFileTests.swift", with: "config/example.yaml")
    static let examplePeerKey = PublicKey(base64: "LcLhgfUwJ4RgGy8BmusJRxLP8ht2+qtct1LRNccRx04=")!

    /// The example as it ships, with its private key file in `files` instead of /etc/maelstrom,
    /// which a test machine has not got: the file rules stay in force. Returns the copy's path.
    static func exampleCopy(in files: KeyFiles) throws -> (path: String, key: PrivateKey) {
        let (key, keyPath) = files.privateKey()
        var text = try String(contentsOfFile: examplePath, encoding: .utf8)
        #expect(text.contains("private-key-file: /etc/maelstrom/private.key"))
        text = text.replacing("private-key-file: /etc/maelstrom/private.key", with: "private-key-file: \(keyPath)")
        // `user: nobody` is right for the machines it ships to; one without that account would refuse it.
        if !nobodyExists { text = text.replacing("user: nobody", with: "user: root") }
        return (files.write("example.yaml", text, mode: 0o644), key)
    }

    @Test func exampleFileLoadsWithoutWarnings() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (path, key) = try Self.exampleCopy(in: files)
        let (config, warnings) = try GatewayConfig.load(path: path)
        #expect(ofInterest(warnings).isEmpty && (!nobodyExists || warnings.isEmpty), "\(warnings)")
        #expect(config.tunName == "mael0")
        #expect(config.tunMTU == 1400)
        #expect(config.tunAddress?.description == "172.31.255.1/30")
        #expect(config.manageRoutes && config.clampMSS)
        #expect(config.listen == Endpoint("0.0.0.0:4500"))
        #expect(config.wanMTU == 1500)
        #expect(
            config.peers == [
                PeerConfig(name: "site-b", endpoint: Endpoint("192.0.2.6:4500")!, subnets: [IPPrefix("10.2.0.0/24")!], publicKey: Self.examplePeerKey)
            ])
        #expect(config.security == .noise(privateKey: key, file: files.directory + "/private.key"))
        #expect(config.publicKey == key.publicKey)
        if nobodyExists { #expect(config.runAs == .named("nobody")) }
        var fec = FECParameters.default
        fec.maxPacketSize = 1400
        #expect(config.fec == fec)
        #expect(config.decoder == DecoderParameters(for: fec, mode: .adaptive))
        #expect(config.keepaliveInterval == 1_000_000_000)
        #expect(config.peerTimeout == 3_000_000_000)
        #expect(config.metricsListen == Endpoint("127.0.0.1:9464"))
        #expect(config.logLevel == .info)
        #expect(config.clampedMSS == (ipv4: 1360, ipv6: 1340))
    }

    @Test("the example's peer key is a real Curve25519 point, not a made-up string")
    func examplePeerKeyIsValid() throws {
        let text = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        #expect(text.contains("public-key: \(Self.examplePeerKey.base64)"))
        #expect(text.contains("# preshared-key-file: "))
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
