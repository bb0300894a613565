import ArgumentParser
import MaelstromConfig

/// `maelstromd check`: validates a config file and prints the effective configuration.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file and print the effective configuration (defaults filled in).")

    @Option(help: "The YAML config file.")
    var config: String

    func run() throws {
        let (loaded, warnings) = try loadConfig(config)
        for warning in warnings { printError("maelstromd: warning: \(warning)") }
        print(loaded.effectiveYAML(), terminator: "")
    }
}
