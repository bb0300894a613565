import Foundation
import MaelstromConfig
import MaelstromCore

/// Loads a config file for a command: errors become one-line failures with exit code 2.
func loadConfig(_ path: String) throws(CommandFailure) -> (config: GatewayConfig, warnings: [ConfigWarning]) {
    do {
        return try GatewayConfig.load(path: path)
    } catch {
        throw CommandFailure(message: error.description, exitCode: ConfigError.exitCode)
    }
}

extension GatewayConfig {
    /// The settings of the gateway logic that this config describes.
    var gatewaySettings: GatewaySettings {
        GatewaySettings(
            peers: peers.map { PeerSettings(name: $0.name, endpoint: $0.endpoint, subnets: $0.subnets, lanes: $0.lanes) },
            fec: fec, decoder: decoder, keepaliveIntervalNanoseconds: keepaliveInterval,
            peerTimeoutNanoseconds: peerTimeout, clampMSS: clampMSS,
            framing: security == .none ? .plaintext : .sealed, adaptation: adaptation,
            recordsJudgements: logLevel == .debug || logLevel == .trace)
    }
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
