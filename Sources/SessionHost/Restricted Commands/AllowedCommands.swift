import Glibc

/// A restricted configuration's rule set: a command line is split once (`CommandLineWords`), matched word by word
/// against the patterns (`CommandPattern`), cleared of options that would turn a reader into a writer
/// (`DangerousOptions`), and its program found on a fixed PATH. Exactly those words are then executed: no shell
/// ever reads the line.
public struct AllowedCommands {
    let patterns: [(text: String, pattern: CommandPattern)]

    /// The only places programs are looked up: not the user's PATH, nor anything from the client.
    public static let searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Patterns that do not parse are left out (a registered configuration has none: registering refuses them).
    public init(_ patterns: [String]) {
        self.patterns = patterns.compactMap { text in (try? CommandPattern(parsing: text)).map { (text, $0) } }
    }

    /// What a refused line is told (the caller names the configuration).
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The words to execute for `line`, or why it is refused.
    public func check(_ line: String) throws(Refusal) -> [[UInt8]] {
        let words: [[UInt8]]
        do { words = try CommandLineWords.split(Array(line.utf8)) } catch { throw Refusal(description: "\(error)") }
        guard patterns.contains(where: { $0.pattern.matches(words) }) else {
            throw Refusal(description: "it matches none of the allowed commands (\(patterns.map(\.text).joined(separator: "; ")))")
        }
        if let option = DangerousOptions.refused(in: words) { throw Refusal(description: option) }
        return words
    }

    /// The program `word` names: itself when it holds a `/` (the pattern matched it byte for byte), else the
    /// first executable regular file of that name on `searchPath`.
    public static func program(_ word: [UInt8]) -> String? {
        let name = String(decoding: word, as: UTF8.self)
        if word.contains(UInt8(ascii: "/")) { return isExecutableFile(name) ? name : nil }
        return searchPath.split(separator: ":").lazy.map { "\($0)/\(name)" }.first(where: isExecutableFile)
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
    }

    /// The environment a restricted command starts with, built from scratch (rule 7): the fixed PATH, the account,
    /// the locale, the configuration's `environment`, and pagers that cannot run anything.
    public static func environment(account: [String: String], locale: [String], configured: [(name: String, value: String)]) -> [String] {
        var values: [(String, String)] = [("PATH", searchPath), ("TERM", "dumb")]
        for name in ["HOME", "USER", "LOGNAME"] { if let value = account[name] { values.append((name, value)) } }
        for entry in locale {
            let parts = entry.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == "LANG" || parts[0].hasPrefix("LC_") { values.append((String(parts[0]), String(parts[1]))) }
        }
        values += configured.map { ($0.name, $0.value) }
        values += [("PAGER", "cat"), ("SYSTEMD_PAGER", "cat"), ("SYSTEMD_PAGERSECURE", "1"), ("LESSSECURE", "1"), ("GIT_PAGER", "cat")]
        // The last setting of a name wins: the pagers over the configuration, the configuration over the locale.
        var seen = Set<String>()
        return values.reversed().filter { seen.insert($0.0).inserted }.reversed().map { "\($0.0)=\($0.1)" }
    }
}
