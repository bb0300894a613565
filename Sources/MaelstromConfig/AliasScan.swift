/// Finds YAML aliases (`*name`) in text before the YAML library expands them.
///
/// A lexical scan, conservative where it cannot tell: outside quotes, comments and block scalars,
/// a `*` that starts a token (after the start of a line, white space, `[`, `{` or `,`) and is
/// followed by an anchor character is an alias; YAML allows no plain scalar to start with `*`.
enum AliasScan {
    static func firstAlias(in text: String) -> (line: Int, name: String)? {
        var line = 1
        var quote: UInt8? = nil
        var inComment = false
        // Lines indented deeper than this belong to a block scalar (`|` or `>`) and are skipped.
        var blockIndent: Int? = nil
        var pendingBlock = false
        var atLineStart = true
        var indent = 0
        var previous: UInt8 = 10
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 10 {
                line += 1
                inComment = false
                atLineStart = true
                indent = 0
                if pendingBlock { blockIndent = -1 }
                pendingBlock = false
                previous = byte
                index += 1
                continue
            }
            if atLineStart {
                if byte == 32 {
                    indent += 1
                    index += 1
                    continue
                }
                atLineStart = false
                if let block = blockIndent {
                    // The first content line of a block scalar sets its indentation.
                    if block == -1 { blockIndent = indent }
                    if indent >= blockIndent! && byte != 13 {
                        while index < bytes.count && bytes[index] != 10 { index += 1 }
                        continue
                    }
                    blockIndent = nil
                }
            }
            if inComment {
                index += 1
                continue
            }
            if let open = quote {
                if byte == open {
                    if open == 39 && index + 1 < bytes.count && bytes[index + 1] == 39 {
                        index += 2
                        continue
                    }
                    quote = nil
                } else if open == 34 && byte == 92 {
                    index += 1
                }
                previous = byte
                index += 1
                continue
            }
            let startsToken = previous == 10 || previous == 32 || previous == 9 || previous == 91 || previous == 123 || previous == 44
            if startsToken && byte == 35 {
                inComment = true
            } else if startsToken && (byte == 34 || byte == 39) {
                quote = byte
            } else if startsToken && (byte == 124 || byte == 62) {
                // `|` or `>` followed only by indicators and a comment opens a block scalar.
                var scan = index + 1
                while scan < bytes.count, bytes[scan] == 43 || bytes[scan] == 45 || (bytes[scan] >= 48 && bytes[scan] <= 57) { scan += 1 }
                while scan < bytes.count, bytes[scan] == 32 { scan += 1 }
                if scan >= bytes.count || bytes[scan] == 10 || bytes[scan] == 35 || bytes[scan] == 13 { pendingBlock = true }
            } else if startsToken && byte == 42 {
                var end = index + 1
                while end < bytes.count, isAnchorCharacter(bytes[end]) { end += 1 }
                if end > index + 1 {
                    return (line, String(decoding: bytes[(index + 1)..<end], as: UTF8.self))
                }
            }
            previous = byte
            index += 1
        }
        return nil
    }

    private static func isAnchorCharacter(_ byte: UInt8) -> Bool {
        // Anything but white space and the flow indicators.
        !(byte == 32 || byte == 9 || byte == 10 || byte == 13 || byte == 44 || byte == 91 || byte == 93 || byte == 123 || byte == 125)
    }
}
