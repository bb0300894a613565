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
        // Key files by path only: this text is printed and logged, and must never carry a secret.
        switch security {
        case .none:
            lines.append("security: none")
            lines.append("# private-key-file: not used; frames cross the WAN in plaintext")
        case .noise(_, let file):
            lines.append("security: noise")
            lines.append("private-key-file: \(Self.scalar(file))")
        }
        switch runAs {
        case .unchanged: lines.append("user: root  # the daemon keeps the account it was started as")
        case .named(let name): lines.append("user: \(Self.scalar(name))")
        }
        lines.append("peers:")
        for peer in peers {
            lines.append("  - name: \(Self.scalar(peer.name))")
            lines.append("    endpoint: \(Self.scalar(peer.endpoint))")
            lines.append("    subnets: [\(peer.subnets.map(\.description).joined(separator: ", "))]")
            lines.append("    lanes: \(peer.lanes)")
            if let key = peer.publicKey { lines.append("    public-key: \(Self.scalar(key))") }
            if let file = peer.presharedKeyFile {
                lines.append("    preshared-key-file: \(Self.scalar(file))")
            } else if peer.publicKey != nil {
                lines.append("    # preshared-key-file: not set")
            }
            if let ports = peer.flowControl.splitPorts {
                lines.append("    flow-control: split")
                if !ports.include.isEmpty { lines.append("    split-ports: [\(ports.include.map { "\"\($0)\"" }.joined(separator: ", "))]") }
                if !ports.exclude.isEmpty { lines.append("    split-exclude: [\(ports.exclude.map { "\"\($0)\"" }.joined(separator: ", "))]") }
            } else {
                lines.append("    flow-control: end-to-end")
            }
        }
        lines.append("fec:")
        lines.append("  r: \(fec.r)")
        lines.append("  c: \(fec.c)")
        lines.append("  interleaves: [\(fec.interleaves.map(String.init).joined(separator: ", "))]")
        lines.append("  flush-after: \(DurationText.format(fec.flushAfterNanoseconds))")
        lines.append("  mode: \(adaptation.mode.rawValue)")
        lines.append("  target-residual: \(adaptation.targetResidual)")
        lines.append("  min-overhead: \(adaptation.minOverhead)")
        lines.append("  max-overhead: \(adaptation.maxOverhead)")
        lines.append("  step-down-after: \(DurationText.format(adaptation.stepDownAfterNanoseconds))")
        lines.append("  report-interval: \(DurationText.format(adaptation.reportIntervalNanoseconds))")
        lines.append("  congestion-delay: \(DurationText.format(adaptation.congestionDelayNanoseconds))")
        switch adaptation.recoveryBudget {
        case .roundTrip: lines.append("  recovery-budget: rtt")
        case .fixed(let nanoseconds): lines.append("  recovery-budget: \(DurationText.format(nanoseconds))")
        }
        lines.append("keepalive:")
        lines.append("  interval: \(DurationText.format(keepaliveInterval))")
        lines.append("  peer-timeout: \(DurationText.format(peerTimeout))")
        lines.append("decoder:")
        lines.append("  window: \(decoder.windowPackets)")
        lines.append("  hold: \(DurationText.format(decoder.holdNanoseconds))")
        lines.append("limits:")
        lines.append("  memory: \(ByteSizeText.format(memoryLimit))")
        lines.append("split:")
        lines.append("  listen-port: \(split.listenPort)")
        lines.append("  max-connections: \(split.maxConnections)")
        lines.append("  buffer: \(ByteSizeText.format(UInt64(split.buffer)))")
        lines.append("  wan-buffer: \(ByteSizeText.format(UInt64(split.wanBuffer)))")
        lines.append("  wan-congestion: \(split.wanCongestion)")
        lines.append("  keepalive: \(split.keepaliveSeconds)s")
        lines.append("  idle-timeout: \(DurationText.format(split.idleTimeout))")
        lines.append("  mark: \(split.mark)")
        lines.append("  route-table: \(split.routeTable)")
        lines.append("metrics:")
        lines.append(metricsListen.map { "  listen: \(Self.scalar($0))" } ?? "  # listen: not set; no metrics are served")
        lines.append("log:")
        lines.append("  level: \(logLevel.rawValue)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Plain when YAML would read the text back as the same string; quoted when it would not
    /// (`[::]:4500` starts a flow list, `null` and `yes` are not strings, ` #` starts a comment).
    private static func scalar(_ value: some CustomStringConvertible) -> String {
        let text = value.description
        let plain = text.first.map { $0.isLetter || $0.isNumber || $0 == "/" } == true
            && !text.contains(": ") && !text.contains(" #") && text.last != " " && !text.contains(where: { $0.isNewline || $0 == "\t" })
            && Resolver.default.resolveTag(of: Node(text)).rawValue == Tag.Name.str.rawValue
        guard !plain else { return text }
        // Paths may hold any character; escape those a double-quoted scalar gives meaning to.
        var quoted = "\""
        for character in text.unicodeScalars {
            switch character {
            case "\\": quoted += "\\\\"
            case "\"": quoted += "\\\""
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case "\r": quoted += "\\r"
            default: quoted.unicodeScalars.append(character)
            }
        }
        return quoted + "\""
    }
}
