import Foundation

extension GatewayConfig {
    /// The largest config file read: a gateway's config is a few kilobytes.
    public static let maxFileBytes = 1 << 20

    /// Reads, parses and validates the file at `path` (`-` reads standard input); errors and
    /// warnings name `path` as given.
    public static func load(path: String) throws(ConfigError) -> (config: GatewayConfig, warnings: [ConfigWarning]) {
        let data = try readConfigFile(path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: 0, key: "", code: .unreadable, message: "the file is not valid UTF-8")
        }
        return try parse(yaml: text, file: path)
    }

    /// The bytes of a config file, a pipe or standard input, read with plain POSIX calls (Foundation
    /// refuses pipes and `/dev/stdin` with a misleading "Permission denied"), at most `maxFileBytes`.
    static func readConfigFile(_ path: String) throws(ConfigError) -> Data {
        func failure(_ message: String) -> ConfigError {
            ConfigError(file: path, line: 0, key: "", code: .unreadable, message: message)
        }
        let fd = path == "-" ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot read the file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFDIR { throw failure("cannot read the file: it is a directory") }
            if info.st_mode & S_IFMT == S_IFREG && Int(info.st_size) > maxFileBytes {
                throw failure("the file is \(info.st_size) bytes; a config may be at most \(maxFileBytes) bytes")
            }
        }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read the file: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
            if data.count > maxFileBytes {
                throw failure("more than \(maxFileBytes) bytes; a config may be at most \(maxFileBytes) bytes")
            }
        }
        return data
    }
}
