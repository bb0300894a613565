import Foundation

/// How the offline commands (`bench`, `simulate`, `trace`, `tune`) print: one JSON object per
/// line with snake_case keys in a stable order, or text tables padded to columns.
enum CommandOutput {
    /// Prints `value` as one line of JSON.
    static func printJSON<Value: Encodable>(_ value: Value) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// `text` padded with spaces to `width` characters (left-aligned); text already as wide gets
    /// one space after it, so columns never touch.
    static func column(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
