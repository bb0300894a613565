import Foundation

/// Runs a control-plane tool (`ip`, `nft`) to completion: routes, rules and firewall tables are
/// rare changes, and these tools already speak netlink correctly.
public enum SystemCommand {
    /// Runs the first executable of `candidates` with `arguments`, writing `input` to its standard
    /// input; throws with the command's stderr if it cannot start or exits non-zero.
    ///
    /// The child is spawned from the calling thread, so it inherits that thread's network namespace.
    public static func run(_ candidates: [String], _ arguments: [String], input: String? = nil) throws(IOError) {
        let tool = candidates.first.map { ($0 as NSString).lastPathComponent } ?? "command"
        let commandLine = ([tool] + arguments).joined(separator: " ")
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw IOError(code: .command, errno: ENOENT, message: "\(commandLine): \(tool) not found (tried \(candidates.joined(separator: ", ")))")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw IOError(code: .command, errno: 0, message: "\(commandLine): cannot start \(path): \(error)")
        }
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        // Drain before waiting, so a chatty child cannot block on a full pipe.
        let output = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let how = process.terminationReason == .exit
                ? "exit status \(process.terminationStatus)" : "killed by signal \(process.terminationStatus)"
            throw IOError(code: .command, errno: 0, message: "\(commandLine): \(how): \(text.isEmpty ? "(no stderr)" : text)")
        }
    }
}

/// Runs `ip` (iproute2) for addresses, routes and policy rules.
public enum IPCommand {
    /// Where iproute2 lives on the distributions we run on.
    static let candidates = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]

    /// Runs `ip <arguments>`; throws with the command's stderr if it cannot start or exits non-zero.
    public static func run(_ arguments: [String]) throws(IOError) {
        try SystemCommand.run(candidates, arguments)
    }

    /// Accepts only address/prefix characters, so an argument cannot be read by `ip` as an option or keyword.
    static func validatePrefix(_ text: String, what: String) throws(IOError) {
        let allowed = text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
                || byte == 0x2E || byte == 0x3A || byte == 0x2F  // . : /
        }
        guard !text.isEmpty, text.utf8.count <= 64, allowed else {
            throw IOError(code: .invalidArgument, errno: EINVAL, message: "\(what) \"\(text)\" is not an IP address or prefix")
        }
    }
}
