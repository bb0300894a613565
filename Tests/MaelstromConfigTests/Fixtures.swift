import MaelstromConfig

/// The smallest valid config, laid out as in docs/CONFIG.md so that line numbers in the tests
/// are easy to check by eye: `subnets:` is line 12.
let minimalYAML = """
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

/// `minimalYAML` with one piece of text replaced, so each test states only what it breaks.
func minimal(_ target: String, _ replacement: String) -> String {
    precondition(minimalYAML.contains(target), "fixture has no '\(target)'")
    return minimalYAML.replacing(target, with: replacement, maxReplacements: 1)
}

/// A second peer appended to `minimalYAML`; its `name:` is line 13, `subnets:` line 15.
func withSecondPeer(name: String = "site-c", endpoint: String = "203.0.113.7:4500", subnets: String = "[10.3.0.0/24]") -> String {
    minimalYAML + """
          - name: \(name)
            endpoint: \(endpoint)
            subnets: \(subnets)

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
