import Foundation
import MaelstromConfig
import MaelstromCore
import MaelstromSecurity
import Testing

/// `security`, the key files, the peers' keys and `user` (issue #8).
@Suite struct SecurityTests {
    // MARK: security

    @Test("security defaults to noise, so a config without a key is refused and says how to make one")
    func noiseIsTheDefault() throws {
        let error = try #require(parseError(minimalPeersYAML))
        #expect(error.code == .missingKey && error.line == 1 && error.key == "private-key-file", "\(error)")
        #expect(error.message.contains("maelstromd genkey") && error.message.contains("security: none"), "\(error)")
    }

    @Test func unknownSecurityListsTheValues() throws {
        let error = try #require(parseError(minimal("security: none", "security: nose")))
        #expect(error.code == .badValue && error.line == 13 && error.key == "security", "\(error)")
        #expect(error.message == "unknown security 'nose' (did you mean 'noise'?); use one of noise, none")
        let boolean = try #require(parseError(minimal("security: none", "security: off")))
        #expect(boolean.code == .badValue && boolean.message.contains("use one of noise, none"), "\(boolean)")
    }

    @Test("security: none loads with a warning that frames are plaintext")
    func plaintextWarns() throws {
        let (config, warnings) = try GatewayConfig.parse(yaml: minimalYAML, file: "test.yaml")
        #expect(config.security == .none && config.publicKey == nil)
        let warning = try #require(warnings.first { $0.key == "security" })
        #expect(warning.line == 13)
        #expect(warning.message.contains("plaintext") && warning.message.contains("read, forge and replay"), "\(warning)")
    }

    @Test("security: none refuses a private key file, which would suggest a protection that is not there")
    func plaintextRefusesAPrivateKey() throws {
        let error = try #require(parseError(minimalYAML + "private-key-file: /etc/maelstrom/private.key\n"))
        #expect(error.code == .badValue && error.line == 14 && error.key == "private-key-file", "\(error)")
        #expect(error.message.contains("not used with security: none"), "\(error)")
    }

    @Test func plaintextRefusesPeerKeys() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let psk = files.write("psk", PresharedKey.generate().base64 + "\n")
        let publicKey = minimal("    subnets: [10.2.0.0/24]\n", "    subnets: [10.2.0.0/24]\n    public-key: \(PrivateKey.generate().publicKey)\n")
        let error = try #require(parseError(publicKey))
        #expect(error.code == .badValue && error.line == 13 && error.key == "peers[0].public-key", "\(error)")
        let preshared = minimal("    subnets: [10.2.0.0/24]\n", "    subnets: [10.2.0.0/24]\n    preshared-key-file: \(psk)\n")
        let pskError = try #require(parseError(preshared))
        #expect(pskError.code == .badValue && pskError.line == 13 && pskError.key == "peers[0].preshared-key-file", "\(pskError)")
        #expect(pskError.message.contains("not used with security: none"))
    }

    // MARK: private-key-file

    @Test func privateKeyIsReadFromItsFile() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (key, path) = files.privateKey()
        let peer = PrivateKey.generate().publicKey
        let (config, warnings) = try GatewayConfig.parse(yaml: sealedYAML(privateKeyFile: path, peerKey: peer.base64), file: "test.yaml")
        #expect(config.security == .noise(privateKey: key, file: path))
        #expect(config.publicKey == key.publicKey)
        #expect(config.peers[0].publicKey == peer && config.peers[0].presharedKey == nil && config.peers[0].presharedKeyFile == nil)
        #expect(ofInterest(warnings).isEmpty && !warnings.contains { $0.key == "security" })
    }

    @Test("a key file group or others may read or write is refused by its mode bits, naming mode and fix",
          arguments: [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666] as [mode_t])
    func keyFileOpenToOthers(mode: mode_t) throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey(mode: mode)
        let error = try #require(parseError(sealedYAML(privateKeyFile: path)))
        #expect(error.code == .key && error.line == 14 && error.key == "private-key-file", "\(error)")
        #expect(error.message.contains("mode 0\(String(mode, radix: 8))"), "\(error)")
        #expect(error.message.contains("chmod 600 \(path)"), "\(error)")
    }

    @Test("owner-only modes are accepted", arguments: [0o600, 0o400, 0o700] as [mode_t])
    func ownerOnlyKeyFile(mode: mode_t) throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey(mode: mode)
        #expect(parseError(sealedYAML(privateKeyFile: path)) == nil)
    }

    @Test func keyFileProblemsAreNamed() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let secretLooking = "not-a-key-but-secret-text"
        let cases: [(path: String, says: String)] = [
            (files.directory + "/absent.key", "No such file or directory"),
            (files.directory, "is a directory"),
            (files.write("big.key", String(repeating: "A", count: 5000)), "more than 4096"),
            (files.write("garbage.key", secretLooking + "\n"), "does not hold a key: it must hold one key, 44 characters of base64 (32 bytes)"),
            (files.write("short.key", Data(repeating: 7, count: 31).base64EncodedString() + "\n"), "does not hold a key"),
            (files.write("two.key", PrivateKey.generate().base64 + "\n" + PrivateKey.generate().base64 + "\n"), "does not hold a key"),
            (files.write("zero.key", Data(count: 32).base64EncodedString()), "all-zero key"),
            (files.write("empty.key", ""), "does not hold a key"),
        ]
        for (path, says) in cases {
            let error = try #require(parseError(sealedYAML(privateKeyFile: path)), "\(path)")
            #expect(error.code == .key && error.line == 14 && error.key == "private-key-file", "\(error)")
            #expect(error.message.contains(says), "\(error)")
            #expect(error.message.contains(path), "\(error)")
            #expect(!error.message.contains(secretLooking), "a key file's content was echoed: \(error)")
        }
    }

    @Test("a FIFO is refused at once rather than waited on")
    func fifoIsNotAKeyFile() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let path = files.directory + "/fifo"
        try #require(mkfifo(path, 0o600) == 0)
        let error = try #require(parseError(sealedYAML(privateKeyFile: path)))
        #expect(error.code == .key && error.message.contains("not a regular file"), "\(error)")
    }

    @Test func whitespaceAroundTheKeyIsIgnored() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let key = PrivateKey.generate()
        let path = files.write("spaced.key", "  \(key.base64) \r\n\n")
        let (config, _) = try GatewayConfig.parse(yaml: sealedYAML(privateKeyFile: path), file: "test.yaml")
        #expect(config.publicKey == key.publicKey)
    }

    @Test("relative key paths resolve against the config file's directory")
    func relativePathsFollowTheConfig() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (key, keyPath) = files.privateKey("private.key")
        let pskPath = files.write("site-b.psk", PresharedKey.generate().base64 + "\n")
        let yaml = sealedYAML(privateKeyFile: "private.key").replacing("    public-key:", with: "    preshared-key-file: ./site-b.psk\n    public-key:")
        let configPath = files.write("gw.yaml", yaml, mode: 0o644)
        let (config, _) = try GatewayConfig.load(path: configPath)
        #expect(config.security == .noise(privateKey: key, file: keyPath))
        #expect(config.peers[0].presharedKeyFile == pskPath)
        // Through a relative path to the config as well: `..` is taken out.
        let sub = files.directory + "/sub"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        let (again, _) = try GatewayConfig.load(path: sub + "/../gw.yaml")
        #expect(again == config)
    }

    @Test("a config from standard input resolves relative key paths against the working directory; a relative config file against its directory")
    func relativePathsWithoutADirectory() throws {
        let name = "absent-\(UUID().uuidString).key"
        let cwd = FileManager.default.currentDirectoryPath
        for (file, directory) in [("-", cwd), ("/dev/stdin", cwd), ("conf/gw.yaml", cwd + "/conf"), ("/etc/maelstrom/gw.yaml", "/etc/maelstrom")] {
            do {
                _ = try GatewayConfig.parse(yaml: sealedYAML(privateKeyFile: name), file: file)
                Issue.record("a missing key file was accepted")
            } catch {
                #expect(error.code == .key && error.file == file, "\(error)")
                #expect(error.message.contains("\(directory)/\(name): No such file or directory"), "\(error)")
            }
        }
    }

    // MARK: peers[].public-key

    static let peerKeyCases: [(name: String, key: String, code: ConfigError.Code, says: String)] = [
        ("not base64", "not a key at all, not even close......!!!!", .key, "44 characters of base64 (32 bytes)"),
        ("31 bytes", Data(repeating: 1, count: 31).base64EncodedString(), .key, "not a public key (44 characters)"),
        ("33 bytes", Data(repeating: 1, count: 33).base64EncodedString(), .key, "not a public key (44 characters)"),
        ("all zeros", Data(count: 32).base64EncodedString(), .key, "the all-zero key"),
    ]

    @Test func badPeerKeysAreRefusedAtTheirLine() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey()
        for (name, key, code, says) in Self.peerKeyCases {
            let error = try #require(parseError(sealedYAML(privateKeyFile: path, peerKey: key)), "\(name)")
            #expect(error.code == code && error.line == 13 && error.key == "peers[0].public-key", "\(name): \(error)")
            #expect(error.message.contains(says), "\(name): \(error)")
            #expect(!error.message.contains(key), "\(name): the text was echoed: \(error)")
        }
    }

    @Test func peerWithoutAKeyIsRefused() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey()
        let error = try #require(parseError(minimalPeersYAML + "private-key-file: \(path)\n"))
        #expect(error.code == .missingKey && error.line == 10 && error.key == "peers[0].public-key", "\(error)")
        #expect(error.message.contains("maelstromd check"), "\(error)")
    }

    @Test("a peer may not have this gateway's own key, public or (pasted by mistake) private")
    func ownKeyIsNoPeersKey() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (key, path) = files.privateKey()
        let own = try #require(parseError(sealedYAML(privateKeyFile: path, peerKey: key.publicKey.base64)))
        #expect(own.code == .key && own.line == 13 && own.key == "peers[0].public-key", "\(own)")
        #expect(own.message.contains("this gateway's own public key"), "\(own)")
        let pasted = try #require(parseError(sealedYAML(privateKeyFile: path, peerKey: key.base64)))
        #expect(pasted.code == .key && pasted.message.contains("private key"), "\(pasted)")
        #expect(!pasted.message.contains(key.base64))
    }

    @Test func twoPeersWithOneKeyAreRefused() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey()
        let shared = PrivateKey.generate().publicKey.base64
        let second = "  - name: site-c\n    endpoint: 203.0.113.7:4500\n    subnets: [10.3.0.0/24]\n    public-key: \(shared)\n"
        let error = try #require(parseError(sealedYAML(privateKeyFile: path, peerKey: shared, extraPeers: second)))
        #expect(error.code == .duplicate && error.line == 17 && error.key == "peers[1].public-key", "\(error)")
        #expect(error.message.contains("already used by peers[0].public-key, line 13"), "\(error)")
    }

    @Test("a key beginning with + or / round-trips through the effective config (YAML would misread it bare)")
    func keysThatNeedQuotes() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey()
        for first: UInt8 in [0xFB, 0xFF, 0x00] {  // base64 '+', '/', 'A'
            let key = KeyText.encode([first] + Array(repeating: 9, count: 31))
            let (config, _) = try GatewayConfig.parse(yaml: sealedYAML(privateKeyFile: path, peerKey: "\"\(key)\""), file: "test.yaml")
            let (again, _) = try GatewayConfig.parse(yaml: config.effectiveYAML(), file: "effective.yaml")
            #expect(again == config && again.peers[0].publicKey?.base64 == key)
        }
    }

    // MARK: peers[].preshared-key-file

    @Test func presharedKeyIsReadWithTheFileRules() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey()
        let psk = PresharedKey.generate()
        let good = files.write("good.psk", psk.base64 + "\n")
        func yaml(_ file: String) -> String {
            sealedYAML(privateKeyFile: path).replacing("    public-key:", with: "    preshared-key-file: \(file)\n    public-key:")
        }
        let (config, _) = try GatewayConfig.parse(yaml: yaml(good), file: "test.yaml")
        #expect(config.peers[0].presharedKey == psk && config.peers[0].presharedKeyFile == good)
        for (file, says) in [
            (files.write("open.psk", psk.base64, mode: 0o644), "mode 0644"), (files.write("bad.psk", "nope"), "does not hold a key"),
            (files.directory + "/absent.psk", "No such file or directory"),
        ] {
            let error = try #require(parseError(yaml(file)))
            #expect(error.code == .key && error.line == 13 && error.key == "peers[0].preshared-key-file", "\(error)")
            #expect(error.message.contains("preshared key file \(file)") && error.message.contains(says), "\(error)")
        }
    }

    // MARK: the effective config

    @Test("a sealed config with preshared keys round-trips, and its text names key files, never keys")
    func sealedConfigRoundTrips() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (key, path) = files.privateKey("my key #1.key")
        let psk = PresharedKey.generate()
        let pskPath = files.write("b.psk", psk.base64)
        let second = "  - name: site-c\n    endpoint: 203.0.113.7:4500\n    subnets: [10.3.0.0/24]\n    public-key: \(PrivateKey.generate().publicKey)\n"
        let yaml = sealedYAML(privateKeyFile: "'\(path)'", extraPeers: second)
            .replacing("    public-key:", with: "    preshared-key-file: \(pskPath)\n    public-key:", maxReplacements: 1)
        let (config, _) = try GatewayConfig.parse(yaml: yaml, file: "test.yaml")
        let rendered = config.effectiveYAML()
        #expect(rendered.contains("security: noise\nprivate-key-file: \"\(path)\"\n"), "\(rendered)")
        #expect(rendered.contains("    preshared-key-file: \(pskPath)\n"), "\(rendered)")
        #expect(rendered.contains("    # preshared-key-file: not set\n"), "\(rendered)")
        #expect(!rendered.contains(key.base64) && !rendered.contains(psk.base64), "\(rendered)")
        let (again, _) = try GatewayConfig.parse(yaml: rendered, file: "/elsewhere/effective.yaml")
        #expect(again == config)
        #expect(again.effectiveYAML() == rendered)
    }

    @Test func plaintextConfigSaysSo() throws {
        let (config, _) = try GatewayConfig.parse(yaml: minimalYAML, file: "test.yaml")
        let rendered = config.effectiveYAML()
        #expect(rendered.contains("security: none\n# private-key-file: not used"), "\(rendered)")
        #expect(!rendered.contains("public-key"))
    }

    // MARK: the MTU rule with the tag

    @Test("sealed frames carry a 16-byte tag: the largest tun.mtu is 1426 over IPv4 at wan-mtu 1500, 1406 over IPv6")
    func mtuLeavesRoomForTheTag() throws {
        let files = KeyFiles()
        defer { files.remove() }
        let (_, path) = files.privateKey()
        let ipv4 = sealedYAML(privateKeyFile: path)
        #expect(parseError(ipv4.replacing("mtu: 1400", with: "mtu: 1426")) == nil)
        let error = try #require(parseError(ipv4.replacing("mtu: 1400", with: "mtu: 1427")))
        #expect(error.code == .mtu && error.line == 3 && error.key == "tun.mtu", "\(error)")
        #expect(
            error.message
                == "1427 does not fit wan-mtu 1500: 1427 + 30 (repair frame headers) + 16 (AEAD tag) + 8 (UDP) + 20 (IPv4) = 1501; the largest tun.mtu that fits is 1426")
        let ipv6 = ipv4.replacing("0.0.0.0:4500", with: "\"[::]:4500\"").replacing("192.0.2.6:4500", with: "\"[2001:db8::6]:4500\"")
        #expect(parseError(ipv6.replacing("mtu: 1400", with: "mtu: 1406")) == nil)
        let error6 = try #require(parseError(ipv6.replacing("mtu: 1400", with: "mtu: 1407")))
        #expect(error6.code == .mtu && error6.message.hasSuffix("(AEAD tag) + 8 (UDP) + 40 (IPv6) = 1501; the largest tun.mtu that fits is 1406"))
        // Plaintext keeps the old rule.
        #expect(parseError(minimal("mtu: 1400", "mtu: 1442")) == nil)
    }

    // MARK: user

    @Test func userDefaultsToNobody() throws {
        let (config, warnings) = try GatewayConfig.parse(yaml: minimalYAML, file: "test.yaml")
        if nobodyExists {
            #expect(config.runAs == .named("nobody"))
            #expect(!warnings.contains { $0.key == "user" })
        } else {
            #expect(config.runAs == .unchanged)
            let warning = try #require(warnings.first { $0.key == "user" })
            #expect(warning.message.contains("stays root"), "\(warning)")
        }
        #expect(config.effectiveYAML().contains(nobodyExists ? "\nuser: nobody\n" : "\nuser: root  #"))
    }

    @Test("user: root keeps root, with a warning")
    func rootIsAllowedButWarned() throws {
        let (config, warnings) = try GatewayConfig.parse(yaml: minimalYAML + "user: root\n", file: "test.yaml")
        #expect(config.runAs == .unchanged)
        let warning = try #require(warnings.first { $0.key == "user" })
        #expect(warning.line == 14 && warning.message.contains("keeps root"), "\(warning)")
        let (again, _) = try GatewayConfig.parse(yaml: config.effectiveYAML(), file: "effective.yaml")
        #expect(again == config)
    }

    @Test func namedAccountIsKept() throws {
        try #require(nobodyExists, "no nobody account on this machine")
        let (config, warnings) = try GatewayConfig.parse(yaml: minimalYAML + "user: nobody\n", file: "test.yaml")
        #expect(config.runAs == .named("nobody"))
        #expect(!warnings.contains { $0.key == "user" })
    }

    @Test func unknownAccountIsRefused() throws {
        let error = try #require(parseError(minimalYAML + "user: no-such-account-\(UInt32.random(in: 0...UInt32.max))\n"))
        #expect(error.code == .badValue && error.line == 14 && error.key == "user", "\(error)")
        #expect(error.message.contains("exists on this machine"), "\(error)")
    }
}
