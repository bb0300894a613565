import MaelstromConfig

/// The config loader on any text: it answers with a config or an error naming a line, never traps
/// or hangs; a config it accepts prints an effective config that reads back as the same config.
enum ConfigFuzz {
    /// Relative key file paths resolve under a directory that does not exist.
    private static let file = "/nonexistent/maelstrom-fuzz/config.yaml"

    static func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) {
        let text = String(decoding: data, as: UTF8.self)
        let config: GatewayConfig
        do {
            config = try GatewayConfig.parse(yaml: text, file: file).config
        } catch {
            guard error.file == file, error.line >= 0 else {
                throw FuzzFinding(.config, "an error without this file and a line: \(error)")
            }
            return
        }
        let effective = config.effectiveYAML()
        do {
            let again = try GatewayConfig.parse(yaml: effective, file: file).config
            guard again == config else { throw FuzzFinding(.config, "the effective config reads back as a different config") }
        } catch let finding as FuzzFinding {
            throw finding
        } catch {
            throw FuzzFinding(.config, "the effective config does not read back: \(error)")
        }
    }
}
