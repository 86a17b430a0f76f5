/// ssh's patterns (OpenSSH's match.c): `*` and `?` wildcards over bytes; a comma-separated list matches when one of
/// its patterns does and none of its `!` patterns does. Used for known_hosts host fields and for Match criteria;
/// `Host` lines use single patterns, case-sensitively, as ssh does.
public enum HostPattern {
    public enum ListMatch: Equatable, Sendable {
        case matched, notMatched
        /// A `!` pattern matched: the list refuses the text, whatever else matched.
        case negated
    }

    /// OpenSSH's match_pattern: the whole of `text` against one pattern.
    public static func wildcardMatch(_ text: String, _ pattern: String) -> Bool {
        wildcardMatch(Array(text.utf8), Array(pattern.utf8))
    }

    static func wildcardMatch(_ t: [UInt8], _ p: [UInt8]) -> Bool {
        var ti = 0, pi = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == t[ti] {
                ti += 1; pi += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// OpenSSH's match_pattern_list: `list` is comma-separated; with `lowercasingPatterns`, each pattern is
    /// lower-cased first (the text is expected lower-case then).
    public static func matchList(_ text: String, _ list: String, lowercasingPatterns: Bool) -> ListMatch {
        let bytes = Array(text.utf8)
        var matched = false
        for item in list.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            var pattern = Array(item)
            let negated = pattern.first == UInt8(ascii: "!")
            if negated { pattern.removeFirst() }
            if lowercasingPatterns { pattern = pattern.map(asciiLowercased) }
            if wildcardMatch(bytes, pattern) {
                if negated { return .negated }
                matched = true
            }
        }
        return matched ? .matched : .notMatched
    }

    /// OpenSSH's match_hostname: host names compare without case.
    public static func matchHostname(_ host: String, _ list: String) -> ListMatch {
        matchList(host.asciiLowercased, list, lowercasingPatterns: true)
    }

    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}

extension String {
    /// Lower case as C's tolower() in the C locale: ASCII letters only, as OpenSSH lower-cases host names.
    public var asciiLowercased: String {
        String(decoding: utf8.map(HostPattern.asciiLowercased), as: UTF8.self)
    }
}
