import MaelstromCore
import Yams

extension GatewayConfig {
    /// The whole configuration as it takes effect, defaults included, in the file's own format:
    /// what `maelstromd` prints on request, and what `parse` turns back into an equal config.
    public func effectiveYAML() -> String {
        var lines = ["# Effective Maelstrom configuration: every default filled in."]
        lines.append("tun:")
        lines.append("  name: \(Self.scalar(tunName))")
        lines.append("  mtu: \(tunMTU)")
        lines.append(tunAddress.map { "  address: \($0)" } ?? "  # address: not set; the TUN is left unaddressed")
        lines.append("  manage-routes: \(manageRoutes)")
        lines.append("  clamp-mss: \(clampMSS)")
        lines.append("  offload: \(tunOffload)")
        lines.append("listen: \(Self.scalar(listen))")
        lines.append("wan-mtu: \(wanMTU)")
        lines.append("lanes: \(lanes)")
        lines.append("busy-poll: \(DurationText.format(busyPoll))")
        lines.append("peers:")
        for peer in peers {
            lines.append("  - name: \(Self.scalar(peer.name))")
            lines.append("    endpoint: \(Self.scalar(peer.endpoint))")
            lines.append("    subnets: [\(peer.subnets.map(\.description).joined(separator: ", "))]")
            lines.append("    lanes: \(peer.lanes)")
        }
        lines.append("fec:")
        lines.append("  r: \(fec.r)")
        lines.append("  c: \(fec.c)")
        lines.append("  interleaves: [\(fec.interleaves.map(String.init).joined(separator: ", "))]")
        lines.append("  flush-after: \(DurationText.format(fec.flushAfterNanoseconds))")
        lines.append("keepalive:")
        lines.append("  interval: \(DurationText.format(keepaliveInterval))")
        lines.append("  peer-timeout: \(DurationText.format(peerTimeout))")
        lines.append("decoder:")
        lines.append("  window: \(decoder.windowPackets)")
        lines.append("  hold: \(DurationText.format(decoder.holdNanoseconds))")
        lines.append("limits:")
        lines.append("  memory: \(ByteSizeText.format(memoryLimit))")
        lines.append("metrics:")
        lines.append(metricsListen.map { "  listen: \(Self.scalar($0))" } ?? "  # listen: not set; no metrics are served")
        lines.append("log:")
        lines.append("  level: \(logLevel.rawValue)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Plain when YAML would read the text back as the same string; quoted when it would not
    /// (`[::]:4500` starts a flow list, `null` and `yes` are not strings).
    private static func scalar(_ value: some CustomStringConvertible) -> String {
        let text = value.description
        let plain = text.first.map { $0.isLetter || $0.isNumber } == true
            && Resolver.default.resolveTag(of: Node(text)).rawValue == Tag.Name.str.rawValue
        return plain ? text : "\"\(text)\""
    }
}
