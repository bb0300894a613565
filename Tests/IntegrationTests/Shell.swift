import Foundation

/// The result of a shell command.
struct ShellResult: Sendable {
    /// Exit status.
    let status: Int32
    /// Standard output and standard error, interleaved.
    let output: String
}

/// Runs `command` with bash, waiting at most `timeout` seconds (then it is killed and status is -1).
@discardableResult
func shell(_ command: String, timeout: Double = 60) -> ShellResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    process.standardInput = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        return ShellResult(status: -1, output: "cannot run bash: \(error)")
    }
    let collected = OutputCollector()
    let reader = Thread {
        collected.data = output.fileHandleForReading.readDataToEndOfFile()
        collected.done.signal()
    }
    reader.start()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { stopProcess(process, signal: SIGKILL, timeout: 2) }
    // A daemon started by the command may hold the pipe open forever: stop waiting for it.
    if collected.done.wait(timeout: .now() + 2) == .timedOut {
        try? output.fileHandleForWriting.close()
        return ShellResult(status: process.terminationStatus, output: "(output not collected: a child kept the pipe open)")
    }
    let text = String(decoding: collected.data, as: UTF8.self)
    return ShellResult(status: Date() >= deadline ? -1 : process.terminationStatus, output: text)
}

private final class OutputCollector: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}

/// The directory holding the built products (`.build/debug` when run by `swift test`).
let productsDirectory: URL = {
    URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
}()

/// The built `maelstromd`, if present next to the test bundle.
let maelstromdPath: String? = {
    let path = productsDirectory.appendingPathComponent("maelstromd").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()

/// Whether a program is on the PATH.
func commandExists(_ name: String) -> Bool {
    shell("command -v \(name) >/dev/null 2>&1").status == 0
}

/// Why the gateway end-to-end tests cannot run here, or nil when they can.
let gatewaySkipReason: String? = {
    if let tunSkipReason { return tunSkipReason }
    if maelstromdPath == nil { return "maelstromd is not built next to the tests (run swift build first)" }
    for tool in ["iperf3", "ping"] where !commandExists(tool) { return "\(tool) is not installed" }
    return nil
}()
