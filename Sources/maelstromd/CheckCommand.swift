import ArgumentParser
import MaelstromConfig

/// `maelstromd check`: validates a config file and prints the effective configuration.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file (and the key files it names) and print the effective configuration (defaults filled in) and this gateway's public key.")

    @Option(help: "The YAML config file.")
    var config: String

    func run() throws {
        let (loaded, warnings) = try loadConfig(config)
        for warning in warnings { printError("maelstromd: warning: \(warning)") }
        print(loaded.effectiveYAML(), terminator: "")
        // A YAML comment, so the output still loads as a config; the peers list this key as their `public-key`.
        if let key = loaded.publicKey { print("# public key: \(key.base64)") }
    }
}
