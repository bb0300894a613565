import ArgumentParser
import Foundation

/// The `maelstromd` command: the gateway daemon and its tools.
@main
struct Maelstromd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maelstromd",
        abstract: "Maelstrom: a transparent forward-error-correction gateway between data centers.",
        subcommands: [
            RunCommand.self, CheckCommand.self, GenkeyCommand.self, PubkeyCommand.self, GenpskCommand.self, StatsCommand.self,
            SimulateCommand.self, BenchCommand.self,
        ])

    /// Parses the command line and runs; every usage error is one line on stderr and exit code 2.
    static func main() async {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exitForParseError(error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch let error as CommandFailure {
            FileHandle.standardError.write(Data("maelstromd: \(error.message)\n".utf8))
            Foundation.exit(error.exitCode)
        } catch {
            exitForParseError(error)
        }
    }

    private static func exitForParseError(_ error: Error) -> Never {
        let code = exitCode(for: error)
        if code == .success {
            print(fullMessage(for: error))
            Foundation.exit(0)
        }
        let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
        FileHandle.standardError.write(Data("maelstromd: \(message)\n".utf8))
        Foundation.exit(2)
    }
}

/// A failure a command reports with its own exit code (2: bad input; 1: could not run).
struct CommandFailure: Error, CustomStringConvertible {
    /// One line saying what went wrong.
    let message: String
    /// The process exit code.
    let exitCode: Int32

    /// A failure caused by the user's input (exit code 2).
    static func badInput(_ message: String) -> CommandFailure { CommandFailure(message: message, exitCode: 2) }

    /// The message.
    var description: String { message }
}
