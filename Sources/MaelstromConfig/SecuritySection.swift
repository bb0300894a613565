import Foundation
import MaelstromCore
import MaelstromSecurity

/// The `security` key as written: sealed frames, or plaintext by explicit choice.
enum SecurityMode: String, CaseIterable {
    case noise
    case none
}

/// The top-level keys `security`, `private-key-file` and `user`.
enum SecuritySection {
    /// `noise` unless the file says otherwise: plaintext must be asked for by name, never fallen into.
    static func mode(_ node: ConfigNode?) throws(ConfigError) -> SecurityMode {
        guard let node else { return .noise }
        let text = try node.string("noise or none")
        guard let mode = SecurityMode(rawValue: text) else {
            let names = SecurityMode.allCases.map(\.rawValue)
            let hint = KeySuggestion.nearest(to: text, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw node.error(.badValue, "unknown security '\(text)'\(hint); use one of \(names.joined(separator: ", "))")
        }
        return mode
    }

    /// The gateway's own key under `noise`; nothing under `none`, where a key file would suggest a
    /// protection that is not there.
    static func read(
        _ top: ConfigMapping, mode: SecurityMode, modeLocation: Location, files: KeyFileReader, warnings: inout [ConfigWarning]
    ) throws(ConfigError) -> TunnelSecurity {
        let keyNode = top.optional("private-key-file")
        switch mode {
        case .none:
            if let keyNode {
                throw keyNode.error(
                    .badValue,
                    "private-key-file is not used with security: none (frames are not sealed); remove it, or remove security: none to seal them")
            }
            warnings.append(
                modeLocation.warning(
                    "security is none: frames cross the WAN in plaintext, and anyone on the path can read, forge and replay them; use security: noise (the default) unless every link between the gateways is trusted"))
            return .none
        case .noise:
            guard let keyNode else {
                throw top.location.child("private-key-file").error(
                    .missingKey,
                    "missing required key 'private-key-file': create a key with `umask 077; maelstromd genkey > /etc/maelstrom/private.key` and name that file here, or set security: none to send plaintext")
            }
            let (bytes, path) = try files.load(keyNode, kind: .privateKey)
            // Any 32 bytes are a Curve25519 private key; KeyFileReader has checked the length.
            return .noise(privateKey: PrivateKey(bytes: bytes)!, file: path)
        }
    }

    /// A peer's `public-key`, inline: public keys are not secret, and a diff of the config shows who is trusted.
    static func publicKey(_ node: ConfigNode) throws(ConfigError) -> PublicKey {
        let text = try node.string("a public key")
        // The text is not echoed: a key pasted into the wrong place may be a private one.
        guard let key = PublicKey(base64: text) else {
            throw node.error(
                .key,
                "not a public key (\(text.count) characters): a key is \(KeyText.characters) characters of base64 (\(KeyText.keyBytes) bytes), as `maelstromd check` prints on the peer or `maelstromd pubkey` prints from its private key")
        }
        // X25519 with the all-zero point gives an all-zero shared secret: no peer has this key.
        guard key.bytes.contains(where: { $0 != 0 }) else {
            throw node.error(.key, "the all-zero key is no peer's public key; copy the peer's key from `maelstromd check` on the peer")
        }
        return key
    }

    /// `user`: the account to run as after setup. Root is allowed but warned about, since then a
    /// flaw in the packet path is a flaw with root's power.
    static func runAs(_ node: ConfigNode?, at location: Location, warnings: inout [ConfigWarning]) throws(ConfigError) -> RunAsUser {
        guard let node else {
            if let uid = Accounts.uid(of: Defaults.user), uid != 0 { return .named(Defaults.user) }
            warnings.append(
                location.warning(
                    "no user is set and this machine has no unprivileged '\(Defaults.user)' account: the daemon stays root after setup; set user: to an unprivileged account"))
            return .unchanged
        }
        let name = try node.string("an account name")
        let uid = Accounts.uid(of: name)
        if name == "root" || uid == 0 {
            warnings.append(
                node.location.warning(
                    "user \(name) is uid 0: the daemon keeps root after setup, so a flaw in its packet handling would have root's power; name an unprivileged account such as \(Defaults.user)"))
            return .unchanged
        }
        guard uid != nil else {
            throw node.error(.badValue, "no account '\(name)' exists on this machine; create it, or name another (\(Defaults.user) is the default)")
        }
        return .named(name)
    }

    enum Defaults {
        static let user = "nobody"
    }
}

/// Reads key files: one base64 key each, private to the account that runs the daemon.
struct KeyFileReader {
    /// The largest key file read: a key and its newline are 45 bytes.
    static let maxBytes = 4096

    /// What a key file holds, in the words its errors need.
    enum Kind {
        case privateKey
        case presharedKey

        var name: String {
            switch self {
            case .privateKey: "private key"
            case .presharedKey: "preshared key"
            }
        }

        var tool: String {
            switch self {
            case .privateKey: "maelstromd genkey"
            case .presharedKey: "maelstromd genpsk"
            }
        }
    }

    /// Absolute; relative key file paths are resolved against it.
    let baseDirectory: String

    /// Relative paths resolve against the directory of the config file, so a config and its keys
    /// can move together; a config read from standard input (`-`, or a path under `/dev` such as
    /// `/dev/stdin`) has no directory, so they resolve against the working directory.
    init(configFile: String) {
        let workingDirectory = FileManager.default.currentDirectoryPath
        if configFile == "-" || configFile.hasPrefix("/dev/") {
            baseDirectory = workingDirectory
        } else {
            let directory = URL(fileURLWithPath: configFile, relativeTo: URL(fileURLWithPath: workingDirectory, isDirectory: true))
                .deletingLastPathComponent()
            baseDirectory = directory.standardizedFileURL.path
        }
    }

    /// `path` made absolute, so the effective config names the file read whatever directory reads it back.
    func resolve(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: baseDirectory, isDirectory: true)).standardizedFileURL.path
    }

    /// The key bytes in the file `node` names, and the file's absolute path.
    func load(_ node: ConfigNode, kind: Kind) throws(ConfigError) -> (bytes: [UInt8], path: String) {
        let written = try node.string("a file path")
        guard !written.isEmpty else { throw node.error(.missingKey, "'\(node.location.key)' needs a file path") }
        let path = resolve(written)
        let format = "one key, \(KeyText.characters) characters of base64 (\(KeyText.keyBytes) bytes), as `\(kind.tool)` prints"
        // O_NONBLOCK: a FIFO given by mistake must fail below, not hang the daemon in open().
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw node.error(.key, "cannot read the \(kind.name) file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw node.error(.key, "cannot read the \(kind.name) file \(path): \(String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw node.error(.key, "the \(kind.name) file \(path) is a directory; name the file that holds \(format)")
        default: throw node.error(.key, "the \(kind.name) file \(path) is not a regular file")
        }
        // Judged by mode bits, not by access(): the daemon starts as root, which may read anything,
        // and the point is who else can.
        let mode = info.st_mode & 0o7777
        guard mode & 0o066 == 0 else {
            let octal = String(mode, radix: 8)
            throw node.error(
                .key,
                "the \(kind.name) file \(path) has mode \(String(repeating: "0", count: max(0, 4 - octal.count)) + octal): group or others may read or write it; run chmod 600 \(path)")
        }
        guard Int(info.st_size) <= Self.maxBytes else {
            throw node.error(.key, "the \(kind.name) file \(path) is \(info.st_size) bytes, more than \(Self.maxBytes); it must hold \(format)")
        }
        var buffer = [UInt8](repeating: 0, count: Self.maxBytes + 1)
        var count = 0
        while count < buffer.count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw node.error(.key, "cannot read the \(kind.name) file \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            count += n
        }
        guard count <= Self.maxBytes else {
            throw node.error(.key, "the \(kind.name) file \(path) is more than \(Self.maxBytes) bytes; it must hold \(format)")
        }
        // The content is never echoed: it is meant to be a secret.
        guard let bytes = KeyText.decode(String(decoding: buffer[..<count], as: UTF8.self)) else {
            throw node.error(.key, "the \(kind.name) file \(path) does not hold a key: it must hold \(format)")
        }
        guard bytes.contains(where: { $0 != 0 }) else {
            throw node.error(.key, "the \(kind.name) file \(path) holds the all-zero key, which is no secret; make one with `\(kind.tool)`")
        }
        return (bytes, path)
    }
}

/// Account lookups, with the reentrant call: configs are parsed on many threads in the tests.
enum Accounts {
    /// The uid of account `name`, or nil when this machine has no such account.
    static func uid(of name: String) -> uid_t? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var size = 4096
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
            if status == ERANGE && size < 1 << 20 {
                size *= 4
                continue
            }
            guard status == 0, let found = result else { return nil }
            return found.pointee.pw_uid
        }
    }
}
