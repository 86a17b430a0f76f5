import Foundation
import Glibc

/// A parsed ssh_config file, with `Include`s read in place, evaluated for a host as OpenSSH evaluates it
/// (`apply(to:)`): `Host` and `Match` lines switch the lines that follow on or off, the first value obtained for a
/// keyword wins, and Match criteria are tested against what has been obtained so far. An `Include` inside a block
/// applies only when that block does; its own `Host` lines end with the included file.
public struct SSHConfig: Sendable {
    /// One `Keyword value...` line.
    public struct Option: Sendable, Equatable {
        public var keyword: SSHConfigKeyword
        public var arguments: [String]
        public var file: String
        public var line: Int

        public init(keyword: SSHConfigKeyword, arguments: [String], file: String, line: Int) {
            self.keyword = keyword
            self.arguments = arguments
            self.file = file
            self.line = line
        }
    }

    enum Entry: Sendable {
        case option(Option)
        case host(patterns: [String])
        case match(MatchCondition)
        case include([Entry])
    }

    var entries: [Entry]
    /// Things worth telling a user with `-v`: keywords pss does not use.
    public private(set) var notes: [String]

    /// Reads `path`; relative `Include` paths start at `includeBase` (`~/.ssh` for a user's file, `/etc/ssh` for
    /// the system's). With `checkingPermissions` (the user's own file, as ssh does), a file another user could
    /// have written is refused; included files are always checked.
    public static func load(path: String, includeBase: String, checkingPermissions: Bool = false) throws -> SSHConfig {
        var notes: [String] = []
        let entries = try readFile(
            path: path, includeBase: includeBase, depth: 0, checkingPermissions: checkingPermissions,
            notes: &notes)
        return SSHConfig(entries: entries, notes: notes)
    }

    public static func parse(_ text: String, file: String = "(config)", includeBase: String = "/") throws -> SSHConfig {
        var notes: [String] = []
        let entries = try parseText(text, file: file, includeBase: includeBase, depth: 0, notes: &notes)
        return SSHConfig(entries: entries, notes: notes)
    }

    /// Applies this file's lines to `evaluation`, as one pass of ssh's reading does.
    func apply(to evaluation: inout ConfigEvaluation) throws {
        try Self.apply(entries, to: &evaluation)
    }

    private static func apply(_ entries: [Entry], to evaluation: inout ConfigEvaluation) throws {
        var active = true
        for entry in entries {
            switch entry {
            case let .option(option):
                if active { evaluation.obtain(option) }
            case let .host(patterns):
                active = evaluation.matchesHostLine(patterns)
            case let .match(condition):
                active = try condition.evaluate(&evaluation)
            case let .include(included):
                if active { try apply(included, to: &evaluation) }
            }
        }
    }

    // MARK: Reading

    static let maximumIncludeDepth = 16

    private static func readFile(
        path: String, includeBase: String, depth: Int, checkingPermissions: Bool,
        notes: inout [String]
    ) throws -> [Entry] {
        if checkingPermissions {
            do { try FileSafety.checkConfigFile(path) } catch let refusal as FileSafety.Refusal {
                throw SSHConfigError(file: path, line: 0, message: refusal.description)
            }
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SSHConfigError(file: path, line: 0, message: "cannot read: \(String(cString: strerror(errno)))")
        }
        // ssh reads bytes: a byte that is not UTF-8 spoils only the word it is in.
        return try parseText(
            String(decoding: data, as: UTF8.self), file: path, includeBase: includeBase, depth: depth,
            notes: &notes)
    }

    private static func parseText(
        _ text: String, file: String, includeBase: String, depth: Int,
        notes: inout [String]
    ) throws -> [Entry] {
        var entries: [Entry] = []
        var lineNumber = 0
        // Split on the byte, not on Character: "\r\n" is one Character, and a CRLF file would read as one line.
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let fail = { (message: String) in SSHConfigError(file: file, line: lineNumber, message: message) }
            guard let (word, arguments) = try splitLine(Substring(rawLine), fail: fail) else { continue }
            guard let keyword = SSHConfigKeyword(rawValue: word.lowercased()) else {
                notes.append("\(file):\(lineNumber): ignoring keyword '\(word.sanitizedForDisplay)', which pss does not use")
                continue
            }
            switch keyword {
            case .host:
                guard !arguments.isEmpty, !arguments.contains("") else { throw fail("Host needs at least one pattern") }
                entries.append(.host(patterns: arguments))
            case .match:
                entries.append(.match(try MatchCondition(parsing: arguments, file: file, line: lineNumber)))
            case .include:
                guard !arguments.isEmpty else { throw fail("Include needs a file name") }
                guard depth < maximumIncludeDepth else { throw fail("Include nested too deeply") }
                var included: [Entry] = []
                for pattern in arguments {
                    var path = PathExpansion.tilde(pattern)
                    if !path.hasPrefix("/") { path = includeBase + "/" + path }
                    for match in PathExpansion.glob(path) {
                        included += try readFile(
                            path: match, includeBase: includeBase, depth: depth + 1,
                            checkingPermissions: true, notes: &notes)
                    }
                }
                entries.append(.include(included))
            default:
                try keyword.validate(arguments, fail: fail)
                entries.append(.option(Option(keyword: keyword, arguments: arguments, file: file, line: lineNumber)))
            }
        }
        return entries
    }

    /// Splits `Keyword value...` or `Keyword=value...` into the keyword and its words, honouring quotes.
    /// Returns nil for blank lines and comments.
    static func splitLine(_ line: Substring, fail: (String) -> SSHConfigError) throws -> (String, [String])? {
        var rest = line.drop(while: { $0 == " " || $0 == "\t" })
        if rest.hasSuffix("\r") { rest = rest.dropLast() }
        guard let first = rest.first, first != "#" else { return nil }
        let keyword = rest.prefix(while: { $0 != " " && $0 != "\t" && $0 != "=" })
        rest = rest.dropFirst(keyword.count).drop(while: { $0 == " " || $0 == "\t" })
        if rest.first == "=" { rest = rest.dropFirst() }

        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        for character in rest {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == " " || character == "\t" || character == "\r" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else if character == "#" && !inWord {
                break  // a comment after the values
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else {
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw fail("unbalanced quote") }
        if inWord { words.append(current) }
        return (String(keyword), words)
    }
}

/// A malformed or refused ssh_config file, located by file and line as ssh reports it.
public struct SSHConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var message: String

    public var description: String {
        line > 0 ? "\(file) line \(line): \(message)" : "\(file): \(message)"
    }
}

enum PathExpansion {
    static func tilde(_ path: String, home: String = LocalUser.home) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + path.dropFirst() }
        return path
    }

    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { index in
            result.gl_pathv[index].map { String(cString: $0) }
        }
    }
}
