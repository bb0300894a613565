import ArgumentParser
import Foundation
import MaelstromSecurity

/// `maelstromd genkey`: a new private key on standard output, as `wg genkey` prints one.
struct GenkeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genkey",
        abstract: "Print a new private key (base64). Run `umask 077` first when writing it to a file.")

    func run() throws {
        warnIfStandardOutputIsShared(what: "private key")
        print(PrivateKey.generate().base64)
    }
}

/// `maelstromd pubkey`: the public key of the private key on standard input, as `wg pubkey` does.
struct PubkeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubkey",
        abstract: "Read a private key on standard input and print its public key (base64).")

    func run() throws {
        let text = try readStandardInput(limit: 4096)
        guard let key = PrivateKey(base64: text) else {
            throw CommandFailure.badInput(
                "standard input does not hold a private key: a key is \(KeyText.characters) characters of base64 (\(KeyText.keyBytes) bytes), as `maelstromd genkey` prints one")
        }
        print(key.publicKey.base64)
    }
}

/// `maelstromd genpsk`: a new preshared key for one pair of peers, as `wg genpsk` prints one.
struct GenpskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genpsk",
        abstract: "Print a new preshared key (base64) for one pair of peers. Run `umask 077` first when writing it to a file.")

    func run() throws {
        warnIfStandardOutputIsShared(what: "preshared key")
        print(PresharedKey.generate().base64)
    }
}

/// Warns, as `wg genkey` does, when the key is about to land in a file others may open: the daemon
/// would refuse that file, and the key has already leaked to anyone who read it meanwhile.
private func warnIfStandardOutputIsShared(what: String) {
    var info = stat()
    guard fstat(STDOUT_FILENO, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o066 != 0 else { return }
    let octal = String(info.st_mode & 0o7777, radix: 8)
    let mode = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
    printError(
        "maelstromd: warning: writing a \(what) to a file that group or others can read or write (mode \(mode)); the daemon refuses such a file: set `umask 077` and try again, or chmod 600 it")
}

/// Standard input, at most `limit` bytes (a key is 45 with its newline), read with POSIX calls so a pipe works.
private func readStandardInput(limit: Int) throws(CommandFailure) -> String {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1024)
    while bytes.count <= limit {
        let n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw CommandFailure(message: "cannot read standard input: \(String(cString: strerror(errno)))", exitCode: 1)
        }
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    guard bytes.count <= limit else {
        throw CommandFailure.badInput("standard input holds more than \(limit) bytes; a private key is \(KeyText.characters) characters of base64")
    }
    return String(decoding: bytes, as: UTF8.self)
}
