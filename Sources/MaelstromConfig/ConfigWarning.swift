/// A legal but doubtful setting, reported so the operator can fix it before it costs recovery.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    /// The path of the file as the caller gave it.
    public let file: String
    /// 1-based line of the key the warning is about.
    public let line: Int
    /// Dotted path of the key the warning is about.
    public let key: String
    /// What is doubtful and what would be better.
    public let message: String

    /// Creates a warning; the loader is the usual source.
    public init(file: String, line: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: KEY: MESSAGE`, the same shape as `ConfigError` so both read alike in logs.
    public var description: String { "\(file):\(line): \(key): \(message)" }
}
