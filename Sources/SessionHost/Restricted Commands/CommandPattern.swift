/// One entry of a configuration's `allowedCommands`, matched word by word against a command line's words
/// (`CommandLineWords`):
/// - a literal pattern word must equal the word byte for byte (`/bin/uptime` does not match `uptime`);
/// - a final pattern word `*` matches zero or more words;
/// - a `*` inside a word (or a `*` word before the last) matches within that one word and never crosses `/`, so
///   `cat /var/log/app/*.log` matches neither `../` nor a second file; nor may a path part that a `*` made be empty,
///   `.` or `..` (`/var/log/*/x` does not climb with `..`);
/// - a quoted `*` in a pattern is a plain `*`.
/// The pattern itself is written as a command line is, and split by the same rules.
public struct CommandPattern: Equatable {
    /// The pattern's words, each byte with whether it is a wildcard.
    let words: [[PatternByte]]
    /// The last word was an unquoted `*` alone: any words may follow the others.
    let takesAnyMore: Bool

    enum PatternByte: Equatable {
        case literal(UInt8)
        case wildcard
    }

    public init(parsing text: String) throws(CommandLineWords.Refusal) {
        var words = try CommandLineWords.splitMarkingQuotes(Array(text.utf8)).map { word in
            zip(word.bytes, word.quoted).map { byte, quoted in byte == UInt8(ascii: "*") && !quoted ? PatternByte.wildcard : .literal(byte) }
        }
        takesAnyMore = words.last == [.wildcard]
        if takesAnyMore { words.removeLast() }
        self.words = words
    }

    public func matches(_ line: [[UInt8]]) -> Bool {
        guard takesAnyMore ? line.count >= words.count : line.count == words.count else { return false }
        return zip(words, line).allSatisfy(Self.wordMatches)
    }

    /// A pattern word against a word: literal bytes, and wildcards for any run of bytes other than `/`; then no
    /// path part that a wildcard made is empty, `.` or `..`.
    static func wordMatches(_ pattern: [PatternByte], _ word: [UInt8]) -> Bool {
        guard pattern.contains(.wildcard) else { return pattern == word.map(PatternByte.literal) }
        guard globMatches(pattern, word) else { return false }
        // A wildcard never takes a `/`, so the pattern's parts and the word's line up one to one.
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        let patternParts = pattern.split(separator: .literal(slash), omittingEmptySubsequences: false)
        let wordParts = word.split(separator: slash, omittingEmptySubsequences: false)
        guard patternParts.count == wordParts.count else { return false }
        for (patternPart, wordPart) in zip(patternParts, wordParts) where patternPart.contains(.wildcard) {
            if wordPart.isEmpty || wordPart.elementsEqual([dot]) || wordPart.elementsEqual([dot, dot]) { return false }
        }
        return true
    }

    /// Glob matching with one backtrack point (linear in practice: pattern length × word length at worst).
    private static func globMatches(_ pattern: [PatternByte], _ word: [UInt8]) -> Bool {
        var p = 0, w = 0
        var starP = -1, starW = 0
        while w < word.count {
            if p < pattern.count, pattern[p] == .wildcard {
                starP = p
                starW = w
                p += 1
            } else if p < pattern.count, pattern[p] == .literal(word[w]) {
                p += 1
                w += 1
            } else if starP >= 0, word[starW] != UInt8(ascii: "/") {
                starW += 1
                w = starW
                p = starP + 1
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == .wildcard { p += 1 }
        return p == pattern.count
    }
}
