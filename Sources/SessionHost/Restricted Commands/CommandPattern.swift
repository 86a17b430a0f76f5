/// One entry of a configuration's `allowedCommands`, matched word by word against a command line's words
/// (`CommandLineWords`):
/// - a literal pattern word must equal the word byte for byte (`/bin/uptime` does not match `uptime`);
/// - a final pattern word `*` matches zero or more words;
/// - a `*` inside a word (or a `*` word before the last) matches within that one word and never crosses `/`, so
///   `cat /var/log/app/*.log` matches neither `../` nor a second file.
/// The pattern itself is written as a command line is, and split by the same rules.
public struct CommandPattern: Equatable {
    public let words: [[UInt8]]

    public init(parsing text: String) throws(CommandLineWords.Refusal) {
        words = try CommandLineWords.split(Array(text.utf8))
    }

    public func matches(_ line: [[UInt8]]) -> Bool {
        let star = [UInt8(ascii: "*")]
        if words.last == star {
            let fixed = words.dropLast()
            return line.count >= fixed.count && zip(fixed, line).allSatisfy(Self.wordMatches)
        }
        return line.count == words.count && zip(words, line).allSatisfy(Self.wordMatches)
    }

    /// A pattern word against a word: literal bytes, and `*` for any run of bytes other than `/`.
    static func wordMatches(_ pattern: [UInt8], _ word: [UInt8]) -> Bool {
        guard pattern.contains(UInt8(ascii: "*")) else { return pattern == word }
        // Iterative glob with one backtrack point, `*` never taking a `/`.
        var p = 0, w = 0
        var starP = -1, starW = 0
        while w < word.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                starP = p
                starW = w
                p += 1
            } else if p < pattern.count, pattern[p] == word[w] {
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
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}
