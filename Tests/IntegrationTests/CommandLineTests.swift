import Foundation
import MaelstromSecurity
import Testing

/// Runs the built `maelstromd` with `arguments`; returns its exit status and what it printed.
private func maelstromd(_ arguments: String) -> ShellResult {
    shell("\(maelstromdPath ?? "false") \(arguments)", timeout: 120)
}

private let goodConfig = """
    tun:
      name: mael0
      mtu: 1400
    listen: 198.18.1.1:4500
    wan-mtu: 1500
    peers:
      - name: site-b
        endpoint: 198.18.2.1:4500
        subnets: [10.2.0.0/24]
    security: none
    """

@Suite("maelstromd command line", .enabled(if: maelstromdPath != nil, "maelstromd is not built next to the tests"))
struct CommandLineTests {
    private func withConfig(_ text: String, _ body: (String) -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mael-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        body(path)
    }

    @Test("bad configs exit 2 naming the file, the line and the key", arguments: [
        // (replace, with, line, key)
        ("    subnets: [10.2.0.0/24]", "    subnet: [10.2.0.0/24]", 9, "peers[0].subnet"),
        ("    subnets: [10.2.0.0/24]", "    subnets: [10.2.0.300/24]", 9, "peers[0].subnets[0]"),
        ("  mtu: 1400", "  mtu: 1480", 3, "tun.mtu"),
        ("listen: 198.18.1.1:4500", "lisen: 198.18.1.1:4500", 4, "lisen"),
    ])
    func badConfigs(replace: String, with: String, line: Int, key: String) throws {
        let broken = goodConfig.replacingOccurrences(of: replace, with: with)
        try withConfig(broken) { path in
            for command in ["check", "run"] {
                let result = maelstromd("\(command) --config \(path)")
                #expect(result.status == 2, "\(command): \(result.output)")
                let lines = result.output.split(separator: "\n")
                #expect(lines.count == 1, "\(command) printed more than one line: \(result.output)")
                #expect(result.output.contains("\(path):\(line): \(key):"), "\(command): \(result.output)")
            }
        }
    }

    @Test("check prints the effective config of a good file and exits 0")
    func checkGood() throws {
        try withConfig(goodConfig) { path in
            let result = maelstromd("check --config \(path)")
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("interleaves: [1, 10, 100]"))
            #expect(result.output.contains("subnets: [10.2.0.0/24]"))
        }
    }

    @Test("a missing config file exits 2 naming it")
    func missingFile() {
        let result = maelstromd("check --config /nonexistent/maelstrom.yaml")
        #expect(result.status == 2)
        #expect(result.output.contains("/nonexistent/maelstrom.yaml"))
    }

    @Test("bad simulate arguments give one line and exit 2", arguments: [
        "simulate --loss bernoulli:2", "simulate --loss nope", "simulate --r 1", "simulate --interleaves 10,5",
        "simulate --packets 0", "simulate --c 2", "simulate --rate-pps -3", "simulate --bogus", "bench codec --loss 1.5",
        // Each of these trapped converting a Double to an integer (SIGILL) before issue #13.
        "simulate --loss burst:inf,inf", "simulate --flush-ms 1e20", "simulate --rate-pps 1e-9 --packets 100",
        "simulate --loss burst:3,1e300", "bench codec --flush-ms nan", "simulate --loss gilbert:nan,0.5",
        "simulate --loss schedule:5x=none", "simulate --adaptive --seconds 0", "simulate --adaptive --delay-ms -1",
        "simulate --block 8", "simulate --block 8,0", "simulate --block 8,3 --adaptive",
        "tune --loss wobble", "tune --loss none --packets 5", "tune --loss none --min-overhead 0.6 --max-overhead 0.5",
    ])
    func badArguments(arguments: String) {
        let result = maelstromd(arguments)
        #expect(result.status == 2, "\(arguments): \(result.output)")
        #expect(result.output.split(separator: "\n").count == 1, "\(arguments): \(result.output)")
    }

    @Test("simulate --json reports the fields the issue names")
    func simulateJSON() throws {
        let result = maelstromd("simulate --loss bernoulli:0.01 --packets 20000 --json")
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        for key in ["data_packets", "repair_packets", "overhead", "lost_data", "recovered", "unrecovered", "residual_loss",
            "recovery_latency_packets", "recovery_latency_ms"]
        {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["data_packets"] as? Int == 20000)
        let latency = try #require(object["recovery_latency_packets"] as? [String: Any])
        #expect(latency["p50"] != nil && latency["p99"] != nil && latency["max"] != nil)
    }

    @Test("simulate --block runs the block-code model: a burst of H comes back, one of H + 1 does not")
    func simulateBlock() throws {
        // 8 + 3 frames a block and a burst every 1,100 frames: each burst starts a block.
        for (length, whole) in [(3, true), (4, false)] {
            let result = maelstromd("simulate --block 8,3 --loss burst:\(length),1100 --packets 20000 --json")
            try #require(result.status == 0, "\(result.output)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            #expect(object["repair_packets"] as? Int == 7500)
            let lost = try #require(object["lost_data"] as? Int)
            #expect(lost > 0)
            #expect(object["unrecovered"] as? Int == (whole ? 0 : lost), "burst \(length): \(result.output)")
        }
    }

    @Test("simulate --adaptive reports each phase of a schedule: cheap when clean, protected under loss")
    func simulateAdaptive() throws {
        let result = maelstromd("simulate --adaptive --rate-pps 5000 --packet-size 1400 --loss schedule:4s=none,4s=bernoulli:0.01 --json")
        try #require(result.status == 0, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let phases = try #require(object["phases"] as? [[String: Any]])
        #expect(phases.count == 2)
        #expect(object["delivery_errors"] as? Int == 0)
        #expect(phases[0]["code_at_end"] as? String == "33[1]")
        #expect((phases[0]["overhead"] as? Double ?? 0) < 0.375)
        #expect((phases[1]["steady_overhead"] as? Double ?? 0) >= 0.1)
        #expect((phases[1]["loss"] as? String) == "bernoulli:0.01")
        let table = maelstromd("simulate --adaptive --rate-pps 2000 --seconds 2")
        #expect(table.status == 0 && table.output.contains("code at end"), "\(table.output)")
    }

    @Test("tune picks the cheapest code under the target and the late limit, and lists the alternatives")
    func tune() throws {
        let result = maelstromd("tune --loss bernoulli:0.001 --packets 100000 --rate-pps 17000 --rtt-ms 50 --json")
        try #require(result.status == 0, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let measured = object["measured_loss_rate"] as? Double ?? 0
        #expect(measured > 0.0008 && measured < 0.0012)
        let candidates = try #require(object["candidates"] as? [[String: Any]])
        #expect(candidates.count > 10)
        let picked = candidates.filter { $0["picked"] as? Bool == true }
        try #require(picked.count == 1)
        // Nothing clearly cheaper than the pick (by more than the policy's 10 % tie) is predicted
        // to meet the target with the policy's margin and to rebuild late at most 1e-4.
        let pickedOverhead = picked[0]["sent_overhead"] as? Double ?? 0
        for candidate in candidates where (candidate["sent_overhead"] as? Double ?? 0) * 1.1 < pickedOverhead {
            let meets = (candidate["predicted_residual"] as? Double ?? 0) * 3 <= 1e-6 && (candidate["late_share"] as? Double ?? 1) <= 1e-4
            #expect(!meets, "\(candidate)")
        }
        #expect((picked[0]["late_share"] as? Double ?? 1) <= 1e-4)
        #expect((picked[0]["simulated_residual"] as? Double ?? 1) <= 1e-5)
        // 0.1 % random loss on a fast lane: two layers for about the clean link's overhead.
        #expect(pickedOverhead <= 0.04, "\(picked[0])")
        #expect(object["recovery_budget_ms"] as? Double == 50)
        #expect(object["picked"] as? String == picked[0]["code"] as? String)
        // A clean link at 10,000 frames a second: 5 ms bins close at 50 packets, so the floor's two
        // layers of r = 62 run at the stretched 7.5 ms deadline; at 20,000 they fill at 5 ms, and
        // at 1,000 the lane is too slow for a stretch (none is listed).
        let clean = maelstromd("tune --loss none --packets 20000 --no-simulate")
        #expect(clean.status == 0 && clean.output.contains("policy picks    62[1,62]@7.5ms"), "\(clean.output)")
        let fast = maelstromd("tune --loss none --packets 20000 --no-simulate --rate-pps 20000")
        #expect(fast.status == 0 && fast.output.contains("policy picks    62[1,62] "), "\(fast.output)")
        #expect(!fast.output.contains("@7.5ms"), "\(fast.output)")
        let slow = maelstromd("tune --loss none --packets 20000 --no-simulate --rate-pps 1000")
        #expect(slow.status == 0 && !slow.output.contains("@7.5ms"), "\(slow.output)")
        // 1 % at 1,000 frames a second: a message lane (budget two 5 ms deadlines) where no code
        // within max-overhead meets both rules; the pick stalls the fewest packets.
        let message = maelstromd("tune --loss bernoulli:0.01 --packets 200000 --no-simulate --rate-pps 1000 --json")
        try #require(message.status == 0, "\(message.output)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(message.output.utf8)) as? [String: Any])
        #expect(answer["message_lane"] as? Bool == true && answer["picked_meets_target"] as? Bool == false)
        #expect(answer["recovery_budget_ms"] as? Double == 10)
        let rows = try #require(answer["candidates"] as? [[String: Any]])
        func stalled(_ row: [String: Any]) -> Double { (row["predicted_residual"] as? Double ?? 1) * 3 + (row["late_share"] as? Double ?? 1) }
        let chosen = try #require(rows.first { $0["picked"] as? Bool == true })
        for row in rows { #expect(stalled(chosen) <= stalled(row) * 1.001, "\(row) stalls fewer than \(chosen)") }
        let text = maelstromd("tune --loss bernoulli:0.01 --packets 200000 --no-simulate --rate-pps 1000")
        #expect(text.output.contains("as no code meets") && text.output.contains("(a message lane)"), "\(text.output)")
    }

    @Test("simulate reads a trace file")
    func traceFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString)").path
        try String(repeating: "0 0 0 0 0 0 0 0 0 1\n", count: 10).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = maelstromd("simulate --loss trace:\(path) --packets 10000 --json")
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect((object["lost_data"] as? Int ?? 0) > 500)
        #expect(object["unrecovered"] as? Int == 0)
        let missing = maelstromd("simulate --loss trace:/nonexistent/trace")
        #expect(missing.status == 2)
    }

    @Test("the emulator's numeric options give one line and exit 2 too", arguments: [
        "bench --loss burst:inf,inf", "bench --delay-ms 1e300", "bench --rate-mbit inf", "bench --offered-gbit 0",
        "bench --duplicate 1.5", "bench --reorder-probability 0.1", "bench --reorder-probability nan --reorder-delay-ms 5",
        "bench --outage 5", "bench --outage 1+0", "bench --outage=-1+2",
        "flood --to 198.18.2.1", "flood --to [fd00::1]:4500", "flood --to 198.18.2.1:4500 --forge-source nowhere",
        "flood --to 198.18.2.1:4500 --seconds 0", "flood --to 198.18.2.1:4500 --rate=-1",
    ])
    func badEmulatorArguments(arguments: String) {
        let wanem = productsDirectory.appendingPathComponent("maelstrom-wanem").path
        let result = shell("\(wanem) \(arguments)", timeout: 60)
        #expect(result.status == 2, "\(arguments): \(result.output)")
        #expect(result.output.split(separator: "\n").count == 1, "\(arguments): \(result.output)")
    }

    @Test("bench codec with huge interleaves and partial repairs runs to the end (it overflowed its frame buffer)")
    func benchCodecWithPartialRepairs() {
        let result = maelstromd("bench codec --r 2 --interleaves 30000,60000 --packet-size 5000 --rounds 1")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("decode, no loss"))
    }

    @Test("a config read from standard input, as - or /dev/stdin, or through a pipe")
    func configFromStandardInput() throws {
        try withConfig(goodConfig) { path in
            for source in ["-", "/dev/stdin"] {
                let piped = maelstromd("check --config \(source) < \(path)")
                #expect(piped.status == 0, "\(source): \(piped.output)")
                #expect(piped.output.contains("subnets: [10.2.0.0/24]"), "\(source): \(piped.output)")
                let fromCat = shell("cat \(path) | \(maelstromdPath ?? "false") check --config \(source)")
                #expect(fromCat.status == 0, "\(source) from a pipe: \(fromCat.output)")
            }
            let broken = shell("sed 's/mtu: 1400/mtu: 1480/' \(path) | \(maelstromdPath ?? "false") check --config -")
            #expect(broken.status == 2)
            #expect(broken.output.contains("-:3: tun.mtu:"), "\(broken.output)")
        }
    }

    @Test("a trace with CRLF line ends is read; a directory as a trace or a config says what it is")
    func traceAndConfigMessages() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("crlf-\(UUID().uuidString)").path
        try String(repeating: "0\r\n0\r\n0\r\n1\r\n", count: 50).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let crlf = maelstromd("simulate --loss trace:\(path) --packets 5000 --json")
        #expect(crlf.status == 0, "\(crlf.output)")
        let directory = maelstromd("simulate --loss trace:/tmp")
        #expect(directory.status == 2)
        #expect(directory.output.contains("it is a directory"), "\(directory.output)")
        #expect(!directory.output.contains("NSCocoaErrorDomain"))
        let config = maelstromd("check --config /tmp")
        #expect(config.status == 2)
        #expect(config.output.contains("it is a directory"), "\(config.output)")
    }

    // MARK: keys (issue #8)

    @Test("genkey | pubkey gives the public key of the generated private key")
    func genkeyPubkeyRoundTrip() throws {
        let generated = maelstromd("genkey")
        #expect(generated.status == 0, "\(generated.output)")
        let text = generated.output.trimmingCharacters(in: .newlines)
        #expect(generated.output == text + "\n" && text.count == 44, "\(generated.output)")
        let key = try #require(PrivateKey(base64: text))
        let derived = shell("echo '\(text)' | \(maelstromdPath ?? "false") pubkey")
        #expect(derived.status == 0, "\(derived.output)")
        #expect(derived.output == key.publicKey.base64 + "\n")
        #expect(maelstromd("genkey").output != generated.output)
    }

    @Test("pubkey refuses what is not a private key with one line and exit 2", arguments: [
        "echo garbage", "printf ''", "head -c 100000 /dev/zero", "echo \(String(repeating: "A", count: 43))",
    ])
    func pubkeyRefusesGarbage(input: String) {
        let result = shell("\(input) | \(maelstromdPath ?? "false") pubkey")
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.split(separator: "\n").count == 1, "\(result.output)")
        #expect(result.output.hasPrefix("maelstromd: standard input"), "\(result.output)")
    }

    @Test func genpskPrintsAKey() throws {
        let first = maelstromd("genpsk")
        #expect(first.status == 0)
        let text = first.output.trimmingCharacters(in: .newlines)
        #expect(first.output == text + "\n" && text.count == 44)
        #expect(PresharedKey(base64: text) != nil)
        #expect(maelstromd("genpsk").output != first.output)
    }

    @Test("genkey into a file others can read warns to set umask 077; with umask 077 it is silent")
    func genkeyWarnsAboutAnOpenFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("genkey-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = maelstromdPath ?? "false"
        let open = shell("umask 022; \(binary) genkey > \(directory)/open.key")
        #expect(open.status == 0)
        #expect(open.output.contains("warning") && open.output.contains("umask 077") && open.output.contains("mode 0644"), "\(open.output)")
        let closed = shell("umask 077; \(binary) genkey > \(directory)/closed.key")
        #expect(closed.status == 0 && closed.output.isEmpty, "\(closed.output)")
        let key = try String(contentsOfFile: "\(directory)/closed.key", encoding: .utf8)
        #expect(PrivateKey(base64: key) != nil)
    }

    /// A sealed config next to its key file (mode `keyMode`), named relatively: `public-key` is line 10, `private-key-file` line 11.
    private func withSealedConfig(keyMode: mode_t, _ body: (_ config: String, _ keyPath: String, _ key: PrivateKey) -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sealed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = PrivateKey.generate()
        let keyPath = directory + "/private.key"
        try (key.base64 + "\n").write(toFile: keyPath, atomically: false, encoding: .utf8)
        #expect(chmod(keyPath, keyMode) == 0)
        let config = goodConfig.replacingOccurrences(of: "security: none", with: "private-key-file: private.key")
            .replacingOccurrences(of: "    subnets: [10.2.0.0/24]\n", with: "    subnets: [10.2.0.0/24]\n    public-key: \(PrivateKey.generate().publicKey)\n")
        try config.write(toFile: directory + "/gw.yaml", atomically: false, encoding: .utf8)
        body(directory + "/gw.yaml", keyPath, key)
    }

    @Test("check prints this gateway's public key, and never its private key")
    func checkPrintsThePublicKey() throws {
        try withSealedConfig(keyMode: 0o600) { config, keyPath, key in
            let result = maelstromd("check --config \(config)")
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("\n# public key: \(key.publicKey.base64)\n"), "\(result.output)")
            #expect(result.output.contains("private-key-file: \(keyPath)\n"), "\(result.output)")
            #expect(!result.output.contains(key.base64), "check printed the private key")
            #expect(!result.output.contains("warning"), "\(result.output)")
        }
    }

    @Test("check and run refuse a key file others can read, naming the file, its mode and the fix")
    func openKeyFileIsRefused() throws {
        try withSealedConfig(keyMode: 0o644) { config, keyPath, _ in
            for command in ["check", "run"] {
                let result = maelstromd("\(command) --config \(config)")
                #expect(result.status == 2, "\(command): \(result.output)")
                #expect(result.output.split(separator: "\n").count == 1, "\(command): \(result.output)")
                #expect(result.output.contains("\(config):11: private-key-file: "), "\(command): \(result.output)")
                #expect(result.output.contains("mode 0644") && result.output.contains("chmod 600 \(keyPath)"), "\(command): \(result.output)")
            }
        }
    }

    @Test("check warns that security: none is plaintext, naming file, line and key")
    func checkWarnsAboutPlaintext() throws {
        try withConfig(goodConfig) { path in
            let result = maelstromd("check --config \(path)")
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("maelstromd: warning: \(path):10: security: security is none: frames cross the WAN in plaintext"), "\(result.output)")
            #expect(!result.output.contains("# public key:"))
        }
    }
}
