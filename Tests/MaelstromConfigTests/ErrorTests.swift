import MaelstromConfig
import Testing

/// One broken config and where the error must point.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let yaml: String
    let code: ConfigError.Code
    let line: Int
    let key: String
    let says: String

    var testDescription: String { name }
}

@Suite struct ErrorTests {
    static let cases: [ErrorCase] = [
        ErrorCase(name: "typo", yaml: minimal("subnets:", "subnet:"), code: .unknownKey, line: 12, key: "peers[0].subnet",
                  says: "unknown key 'subnet' (did you mean 'subnets'?)"),
        ErrorCase(name: "unknown top-level key", yaml: minimalYAML + "colour: red\n", code: .unknownKey, line: 14, key: "colour",
                  says: "unknown key 'colour'"),
        ErrorCase(name: "bad subnet address", yaml: minimal("10.2.0.0/24", "10.2.0.300/24"), code: .badValue, line: 12,
                  key: "peers[0].subnets[0]", says: "'10.2.0.300' in '10.2.0.300/24' is not an IPv4 or IPv6 address"),
        ErrorCase(name: "subnet host bits", yaml: minimal("10.2.0.0/24", "10.2.0.1/24"), code: .badValue, line: 12,
                  key: "peers[0].subnets[0]", says: "10.2.0.1/24 has host bits set; the network is 10.2.0.0/24"),
        ErrorCase(name: "prefix length", yaml: minimal("10.2.0.0/24", "10.2.0.0/33"), code: .badValue, line: 12,
                  key: "peers[0].subnets[0]", says: "must be 0 to 32 for IPv4"),
        ErrorCase(name: "MTU too large", yaml: minimal("mtu: 1400", "mtu: 1480"), code: .mtu, line: 3, key: "tun.mtu",
                  says: "the largest tun.mtu that fits is 1442"),
        ErrorCase(name: "YAML syntax", yaml: minimal("mtu: 1400", "mtu: 1400: x"), code: .syntax, line: 3, key: "",
                  says: "mapping values are not allowed"),
        ErrorCase(name: "missing colon", yaml: minimal("  name: mael0", "  name mael0"), code: .syntax, line: 2, key: "",
                  says: "expected 'key: value', found no ':'"),
        ErrorCase(name: "unquoted IPv6 endpoint", yaml: minimal("0.0.0.0:4500", "[::]:4500"), code: .syntax, line: 7, key: "",
                  says: "quote IPv6 endpoints"),
        ErrorCase(name: "quoted number", yaml: minimal("mtu: 1400", "mtu: \"1400\""), code: .wrongType, line: 3, key: "tun.mtu",
                  says: "expected an integer, got the string '1400'"),
        ErrorCase(name: "scalar for list", yaml: minimal("[10.2.0.0/24]", "10.2.0.0/24"), code: .wrongType, line: 12,
                  key: "peers[0].subnets", says: "expected a list"),
        ErrorCase(name: "bad boolean", yaml: minimal("clamp-mss: true", "clamp-mss: always"), code: .wrongType, line: 6,
                  key: "tun.clamp-mss", says: "expected true or false"),
        ErrorCase(name: "section not a mapping", yaml: minimalYAML + "fec: 8\n", code: .wrongType, line: 14, key: "fec",
                  says: "expected a mapping"),
        ErrorCase(name: "missing top-level key", yaml: minimal("wan-mtu: 1500\n", ""), code: .missingKey, line: 1, key: "wan-mtu",
                  says: "missing required key 'wan-mtu'"),
        ErrorCase(name: "missing peer key", yaml: minimal("    endpoint: 192.0.2.6:4500\n", ""), code: .missingKey, line: 10,
                  key: "peers[0].endpoint", says: "missing required key 'endpoint'"),
        ErrorCase(name: "empty value", yaml: minimal("name: mael0", "name:"), code: .missingKey, line: 2, key: "tun.name",
                  says: "'name' needs a value"),
        ErrorCase(name: "port 0", yaml: minimal("0.0.0.0:4500", "0.0.0.0:0"), code: .badValue, line: 7, key: "listen",
                  says: "port 0 is not allowed"),
        ErrorCase(name: "bad endpoint", yaml: minimal("192.0.2.6:4500", "192.0.2.6"), code: .badValue, line: 11,
                  key: "peers[0].endpoint", says: "is not ADDRESS:PORT"),
        ErrorCase(name: "unspecified peer address", yaml: minimal("192.0.2.6:4500", "0.0.0.0:4500"), code: .badValue, line: 11,
                  key: "peers[0].endpoint", says: "is not a peer's address"),
        ErrorCase(name: "interface name too long", yaml: minimal("mael0", "maelstrom-tunnel0"), code: .badValue, line: 2,
                  key: "tun.name", says: "must be 1-15 characters"),
        ErrorCase(name: "no peers", yaml: minimalYAML.split(separator: "\n").prefix(8).joined(separator: "\n") + "\nsecurity: none\npeers: []\n",
                  code: .badValue, line: 10, key: "peers", says: "at least one peer is required"),
        ErrorCase(name: "peer without subnets", yaml: minimal("[10.2.0.0/24]", "[]"), code: .badValue, line: 12, key: "peers[0].subnets",
                  says: "at least one subnet"),
        ErrorCase(name: "duplicate peer name", yaml: withSecondPeer(name: "site-b"), code: .duplicate, line: 13, key: "peers[1].name",
                  says: "peer name 'site-b' is already used by peers[0].name, line 10"),
        ErrorCase(name: "duplicate peer endpoint", yaml: withSecondPeer(endpoint: "192.0.2.6:4500"), code: .duplicate, line: 14,
                  key: "peers[1].endpoint", says: "already used by peers[0].endpoint, line 11"),
        ErrorCase(name: "duplicate YAML key", yaml: minimal("  clamp-mss: true\n", "  clamp-mss: true\n  mtu: 1300\n"),
                  code: .duplicate, line: 7, key: "mtu", says: "key 'mtu' appears more than once"),
        ErrorCase(name: "overlap across peers", yaml: withSecondPeer(subnets: "[10.3.0.0/24, 10.2.0.128/25]"), code: .overlap, line: 15,
                  key: "peers[1].subnets[1]", says: "10.2.0.128/25 overlaps 10.2.0.0/24 of peer 'site-b' (peers[0].subnets[0], line 12)"),
        ErrorCase(name: "overlap within a peer", yaml: minimal("[10.2.0.0/24]", "[10.2.0.0/24, 10.0.0.0/8]"), code: .overlap, line: 12,
                  key: "peers[0].subnets[1]", says: "10.0.0.0/8 overlaps 10.2.0.0/24 ("),
        ErrorCase(name: "endpoint routed into the tunnel", yaml: minimal("[10.2.0.0/24]", "[10.2.0.0/24, 192.0.2.0/24]"), code: .overlap,
                  line: 11, key: "peers[0].endpoint", says: "the tunnel's own datagrams would loop"),
        ErrorCase(name: "family mismatch", yaml: minimal("0.0.0.0:4500", "\"[::]:4500\""), code: .family, line: 11,
                  key: "peers[0].endpoint", says: "192.0.2.6:4500 is IPv4 but listen [::]:4500 is IPv6"),
        ErrorCase(name: "IPv6 inner MTU", yaml: minimal("[10.2.0.0/24]", "[2001:db8:2::/48]").replacing("mtu: 1400", with: "mtu: 1200"),
                  code: .mtu, line: 3, key: "tun.mtu", says: "below 1280"),
        ErrorCase(name: "FEC r", yaml: minimalYAML + "fec:\n  r: 1\n", code: .fec, line: 15, key: "fec.r",
                  says: "r must be between 2 and 255, got 1"),
        ErrorCase(name: "FEC interleave order", yaml: minimalYAML + "fec:\n  interleaves:\n    - 1\n    - 10\n    - 5\n", code: .fec, line: 18,
                  key: "fec.interleaves[2]", says: "interleaves must be strictly increasing"),
        ErrorCase(name: "FEC c", yaml: minimalYAML + "fec:\n  c: 2\n", code: .fec, line: 15, key: "fec.c",
                  says: "c must equal the number of interleaves"),
        ErrorCase(name: "FEC flush", yaml: minimalYAML + "fec:\n  flush-after: 20s\n", code: .fec, line: 15, key: "fec.flush-after",
                  says: "flush deadline must be between 0.1 ms and 10 s"),
        ErrorCase(name: "decoder window", yaml: minimalYAML + "decoder:\n  window: 1000\n", code: .badValue, line: 15, key: "decoder.window",
                  says: "power of two"),
        ErrorCase(name: "peer timeout", yaml: minimalYAML + "keepalive:\n  interval: 2s\n  peer-timeout: 1500ms\n", code: .badValue,
                  line: 16, key: "keepalive.peer-timeout", says: "peer-timeout 1500ms must exceed interval 2s"),
        ErrorCase(name: "defaulted peer timeout", yaml: minimalYAML + "keepalive:\n  interval: 3s\n", code: .badValue,
                  line: 15, key: "keepalive.interval", says: "peer-timeout 3s must exceed interval 3s"),
        ErrorCase(name: "log level", yaml: minimalYAML + "log:\n  level: warn\n", code: .badValue, line: 15, key: "log.level",
                  says: "unknown level 'warn' (did you mean 'warning'?)"),
        ErrorCase(name: "empty file", yaml: "", code: .missingKey, line: 1, key: "tun", says: "missing required key 'tun'"),
    ]

    @Test(arguments: cases) func errorPointsAtTheOffence(_ errorCase: ErrorCase) throws {
        let error = try #require(parseError(errorCase.yaml))
        #expect(error.code == errorCase.code, "\(error)")
        #expect(error.line == errorCase.line, "\(error)")
        #expect(error.key == errorCase.key, "\(error)")
        #expect(error.message.contains(errorCase.says), "\(error)")
        #expect(error.file == "test.yaml")
    }

    @Test func descriptionIsFileLineKeyMessage() throws {
        let error = try #require(parseError(minimal("subnets:", "subnet:")))
        #expect(error.description == "test.yaml:12: peers[0].subnet: unknown key 'subnet' (did you mean 'subnets'?)")
    }

    @Test func mtuMessageShowsTheArithmetic() throws {
        let error = try #require(parseError(minimal("mtu: 1400", "mtu: 1480")))
        #expect(error.description == "test.yaml:3: tun.mtu: 1480 does not fit wan-mtu 1500: 1480 + 30 (repair frame headers) + 8 (UDP) + 20 (IPv4) = 1538; the largest tun.mtu that fits is 1442")
    }

    @Test func ipv6WANLeavesTwentyBytesLess() throws {
        let yaml = minimal("0.0.0.0:4500", "\"[::]:4500\"").replacing("192.0.2.6:4500", with: "\"[2001:db8::6]:4500\"")
            .replacing("mtu: 1400", with: "mtu: 1423")
        let error = try #require(parseError(yaml))
        #expect(error.code == .mtu && error.message.hasSuffix("the largest tun.mtu that fits is 1422"))
        #expect(parseError(yaml.replacing("mtu: 1423", with: "mtu: 1422")) == nil)
    }

    @Test func largestFittingMTUIsAccepted() {
        #expect(parseError(minimal("mtu: 1400", "mtu: 1442")) == nil)
    }

    @Test func endpointInsideSubnetIsFineWithoutManagedRoutes() {
        let yaml = minimal("[10.2.0.0/24]", "[10.2.0.0/24, 192.0.2.0/24]").replacing("manage-routes: true", with: "manage-routes: false")
        #expect(parseError(yaml) == nil)
    }
}
