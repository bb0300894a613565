/// Finds the known word a misspelt one was probably meant to be, for "did you mean" hints.
enum KeySuggestion {
    /// The nearest candidate, or nil when none is close enough to be a plausible typo or abbreviation.
    static func nearest(to word: String, among candidates: [String]) -> String? {
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            // Short keys get a tight bound, or every one-letter key would "suggest" every other.
            let allowed = min(2, (candidate.count - 1) / 2)
            let distance = editDistance(word.lowercased(), candidate)
            if distance <= allowed && distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        if let best { return best.candidate }
        // Abbreviations (`warn`, `crit`) are far in edit distance but unambiguous as prefixes.
        let extensions = candidates.filter { word.count >= 3 && $0.hasPrefix(word.lowercased()) }
        return extensions.count == 1 ? extensions[0] : nil
    }

    /// Levenshtein distance, with `_` and `-` treated alike because both spellings are common in config files.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.map { $0 == "_" ? "-" : $0 })
        let b = Array(b.map { $0 == "_" ? "-" : $0 })
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
