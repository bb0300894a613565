import Yams

/// Turns text into a YAML node tree, mapping every Yams failure to a `ConfigError` with a line.
enum YAMLSource {
    /// The document's root; an empty document is an empty mapping, so the missing keys get named.
    static func root(yaml: String, file: String) throws(ConfigError) -> ConfigNode {
        // Aliases expand without bound (and as mapping keys, the YAML library's duplicate check
        // hashes each expansion: 500 bytes took hours), and a gateway config has no use for them.
        if let alias = AliasScan.firstAlias(in: yaml) {
            throw ConfigError(
                file: file, line: alias.line, key: "", code: .syntax,
                message: "YAML alias '*\(alias.name)' is not allowed in a Maelstrom config: write the value out")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, yaml: yaml, file: file)
        } catch {
            throw ConfigError(file: file, line: 1, key: "", code: .syntax, message: "YAML: \(error)")
        }
        return ConfigNode(node ?? Node([(Node, Node)]()), path: "", keyLine: 1, file: file)
    }

    private static func syntaxError(_ error: YamlError, yaml: String, file: String) -> ConfigError {
        let lines = yamlLines(yaml)
        func located(_ line: Int, _ message: String) -> ConfigError {
            var message = message
            // The one YAML trap this format sets: `[…]` starts a flow list unless quoted.
            if line >= 1 && line <= lines.count, lines[line - 1].contains(": ["), lines[line - 1].contains("]:") {
                message += " (quote IPv6 endpoints: \"[2001:db8::1]:4500\")"
            }
            return ConfigError(file: file, line: line, key: "", code: .syntax, message: message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let during = context.map { " (\($0.text) started at line \($0.mark.line))" } ?? ""
            // `name mael0` without its colon continues as a plain scalar, so libyaml only notices on the
            // next line; name the line that lost the colon instead.
            if problem == "mapping values are not allowed in this context", mark.line >= 2, mark.line - 2 < lines.count {
                let above = lines[mark.line - 2].trimmingPrefix(while: { $0 == " " })
                if above.contains(" "), !above.hasPrefix("#"), !above.hasPrefix("-"), !above.contains(":") {
                    return located(mark.line - 1, "YAML syntax error: expected 'key: value', found no ':'")
                }
            }
            return located(mark.line, "YAML syntax error: \(problem) at column \(mark.column)\(during)")
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in yaml.prefix(offset).reduce(1) { $1 == "\n" ? $0 + 1 : $0 } } ?? 1
            return located(line, "YAML syntax error: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? ""
            return ConfigError(
                file: file, line: repeatLine(of: key, after: context.mark, in: lines), key: key, code: .duplicate,
                message: "key '\(key)' appears more than once in the same mapping")
        default:
            return ConfigError(file: file, line: 1, key: "", code: .syntax, message: "YAML: \(error)")
        }
    }

    /// The lines of `yaml` as libyaml counts them: CR LF, CR, LF, NEL, LS and PS each end a line
    /// (a config with CR line ends once made the line lookups below run off the end: a fuzzer found it).
    static func yamlLines(_ yaml: String) -> [Substring] {
        var lines: [Substring] = []
        var start = yaml.unicodeScalars.startIndex
        var index = start
        let scalars = yaml.unicodeScalars
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let next = scalars.index(after: index)
            switch scalar {
            case "\r", "\n", "\u{85}", "\u{2028}", "\u{2029}":
                lines.append(Substring(scalars[start..<index]))
                start = scalar == "\r" && next < scalars.endIndex && scalars[next] == "\n" ? scalars.index(after: next) : next
                index = start
            default:
                index = next
            }
        }
        lines.append(Substring(scalars[start..<scalars.endIndex]))
        return lines
    }

    /// Yams marks the first occurrence; the repeat is the one to delete, so find it: the next
    /// line at the same column that starts with the same key.
    private static func repeatLine(of key: String, after mark: Mark, in lines: [Substring]) -> Int {
        let indent = max(0, mark.column - 1)
        guard mark.line >= 0, mark.line < lines.count else { return max(1, mark.line) }
        for index in mark.line..<lines.count {
            let line = lines[index]
            guard line.count > indent, line.prefix(indent).allSatisfy({ $0 == " " || $0 == "-" }) else { continue }
            let rest = line.dropFirst(indent)
            if rest.hasPrefix(key) && rest.dropFirst(key.count).drop(while: { $0 == " " }).hasPrefix(":") { return index + 1 }
        }
        return mark.line
    }
}
