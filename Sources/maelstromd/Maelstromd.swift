import ArgumentParser
import Dispatch
import Foundation
import MaelstromTun

/// The `maelstromd` command: the gateway daemon and its tools.
@main
struct Maelstromd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maelstromd",
        abstract: "Maelstrom: a transparent forward-error-correction gateway between data centers.",
        subcommands: [
            RunCommand.self, CheckCommand.self, GenkeyCommand.self, PubkeyCommand.self, GenpskCommand.self, StatsCommand.self,
            SimulateCommand.self, TuneCommand.self, BenchCommand.self, TraceCommand.self,
        ])

    /// Parses the command line and runs; every usage error is one line on stderr and exit code 2.
    ///
    /// Synchronous on purpose: an async `main` parks the main thread inside `pthread_exit` (libdispatch's
    /// `dispatch_main`), where glibc's set*id broadcast skips it, so it would keep root's
    /// credentials after the daemon drops privileges. Here the main thread only waits, alive, for the
    /// command running on the concurrency pool.
    static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exitForParseError(error)
        }
        if command is RunCommand {
            // Before any other thread exists, so that every thread inherits it.
            do {
                try PrivilegeDrop.forbidNewPrivileges()
            } catch {
                FileHandle.standardError.write(Data("maelstromd: cannot forbid new privileges: \(error)\n".utf8))
                Foundation.exit(1)
            }
        }
        do {
            if let asyncCommand = command as? AsyncParsableCommand {
                try runBlocking(asyncCommand)
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

    /// Runs an async command on the concurrency pool while this thread waits for it.
    private static func runBlocking(_ command: AsyncParsableCommand) throws {
        nonisolated(unsafe) var command = command
        nonisolated(unsafe) var failure: Error? = nil
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await command.run()
            } catch {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
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
