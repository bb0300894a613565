import Foundation
import MaelstromConfig
import MaelstromSecurity

/// `minimalYAML` up to its one peer, without `security`, so more peers can follow.
let minimalPeersYAML = """
    tun:
      name: mael0
      mtu: 1400
      address: 172.31.255.1/30
      manage-routes: true
      clamp-mss: true
    listen: 0.0.0.0:4500
    wan-mtu: 1500
    peers:
      - name: site-b
        endpoint: 192.0.2.6:4500
        subnets: [10.2.0.0/24]

    """

/// The smallest valid config, laid out as in docs/CONFIG.md so that line numbers in the tests
/// are easy to check by eye: `subnets:` is line 12, `security: none` line 13 (most tests are not
/// about keys; `SecurityTests` are), so text appended starts at line 14.
let minimalYAML = minimalPeersYAML + "security: none\n"

/// `minimalYAML` with one piece of text replaced, so each test states only what it breaks.
func minimal(_ target: String, _ replacement: String) -> String {
    precondition(minimalYAML.contains(target), "fixture has no '\(target)'")
    return minimalYAML.replacing(target, with: replacement, maxReplacements: 1)
}

/// A second peer appended to `minimalYAML`'s peers; its `name:` is line 13, `subnets:` line 15.
func withSecondPeer(name: String = "site-c", endpoint: String = "203.0.113.7:4500", subnets: String = "[10.3.0.0/24]") -> String {
    minimalPeersYAML + """
          - name: \(name)
            endpoint: \(endpoint)
            subnets: \(subnets)
        security: none

        """
}

/// The error `parse` throws for `yaml`, or nil when it accepts it.
func parseError(_ yaml: String) -> ConfigError? {
    do {
        _ = try GatewayConfig.parse(yaml: yaml, file: "test.yaml")
        return nil
    } catch {
        return error
    }
}

/// Warnings about the settings a test is about: without the security-none one every fixture has
/// and the `user` one that depends on this machine's accounts.
func ofInterest(_ warnings: [ConfigWarning]) -> [ConfigWarning] {
    warnings.filter { $0.key != "security" && $0.key != "user" }
}

/// Key files in a fresh temporary directory, created with explicit modes, removed by `remove()`.
struct KeyFiles {
    let directory: String

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Writes `text` to `name` with `mode` (set with fchmod, so the umask plays no part); returns the path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        precondition(fd >= 0, "cannot create \(path): \(String(cString: strerror(errno)))")
        defer { close(fd) }
        precondition(fchmod(fd, mode) == 0)
        let bytes = Array(text.utf8)
        precondition(bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) } == bytes.count)
        return path
    }

    /// A new private key in file `name`; returns the key and the path.
    func privateKey(_ name: String = "private.key", mode: mode_t = 0o600) -> (key: PrivateKey, path: String) {
        let key = PrivateKey.generate()
        return (key, write(name, key.base64 + "\n", mode: mode))
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// `minimalPeersYAML` sealed: the peer's `public-key` is line 13, then `extraPeers`, then
/// `private-key-file` (line 14 without extra peers).
func sealedYAML(privateKeyFile: String, peerKey: String = PrivateKey.generate().publicKey.base64, extraPeers: String = "") -> String {
    minimalPeersYAML + "    public-key: \(peerKey)\n" + extraPeers + "private-key-file: \(privateKeyFile)\n"
}

/// Whether this machine has a `nobody` account, which `user` defaults to.
let nobodyExists: Bool = getpwnam("nobody") != nil

/// The error `GatewayConfig.load` throws for the file at `path`, or nil when it accepts it.
func loadError(_ path: String) -> ConfigError? {
    do {
        _ = try GatewayConfig.load(path: path)
        return nil
    } catch {
        return error
    }
}
