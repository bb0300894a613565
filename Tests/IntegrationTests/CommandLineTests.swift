import Foundation
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
}
