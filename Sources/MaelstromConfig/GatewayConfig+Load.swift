import Foundation

extension GatewayConfig {
    /// Reads, parses and validates the file at `path`; errors and warnings name `path` as given.
    public static func load(path: String) throws(ConfigError) -> (config: GatewayConfig, warnings: [ConfigWarning]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            // Foundation's own text on Linux is vague ("The operation could not be completed"); errno's is not.
            let posix = (error as? CocoaError)?.underlying as? POSIXError
            let reason = posix.map { String(cString: strerror($0.code.rawValue)) } ?? error.localizedDescription
            throw ConfigError(file: path, line: 0, key: "", code: .unreadable, message: "cannot read the file: \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: 0, key: "", code: .unreadable, message: "the file is not valid UTF-8")
        }
        return try parse(yaml: text, file: path)
    }
}
