/// Where in the file a value sits, so that checks made after reading can still name the line.
struct Location {
    let file: String
    let line: Int
    let key: String

    /// The location of `child` when only its parent is known (the key is absent and defaulted).
    func child(_ name: String) -> Location {
        Location(file: file, line: line, key: key.isEmpty ? name : "\(key).\(name)")
    }

    func error(_ code: ConfigError.Code, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line, key: key, code: code, message: message)
    }

    func warning(_ message: String) -> ConfigWarning {
        ConfigWarning(file: file, line: line, key: key, message: message)
    }
}
