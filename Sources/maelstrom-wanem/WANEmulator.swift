import ArgumentParser
import Foundation

/// The `maelstrom-wanem` command: a one-way impaired WAN link through a TUN device, and its benchmark.
@main
struct WANEmulator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maelstrom-wanem",
        abstract: "Emulate one direction of a long-haul link (delay, jitter, rate, queue, loss) through a TUN device.",
        discussion: """
            Packets routed into the TUN device are held for their departure time and written back into the \
            same device, so policy routing (`ip rule add iif <veth> table N`, `ip route add default dev <tun> \
            table N`) makes one direction of a path cross the emulated link. Counters are printed as one line \
            of key=value on SIGUSR1 and on exit (SIGTERM, SIGINT).
            """,
        subcommands: [RunCommand.self, BenchCommand.self, FloodCommand.self],
        defaultSubcommand: RunCommand.self)

    /// Parses the command line and runs; a usage error is one line on stderr and exit code 2.
    static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exitForParseError(error)
        }
        do {
            var runnable = command
            try runnable.run()
        } catch let error as EmulatorFailure {
            FileHandle.standardError.write(Data("maelstrom-wanem: \(error.message)\n".utf8))
            Foundation.exit(error.exitCode)
        } catch {
            exitForParseError(error)
        }
    }

    private static func exitForParseError(_ error: Error) -> Never {
        if exitCode(for: error) == .success {
            print(fullMessage(for: error))
            Foundation.exit(0)
        }
        let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
        FileHandle.standardError.write(Data("maelstrom-wanem: \(message)\n".utf8))
        Foundation.exit(2)
    }
}
