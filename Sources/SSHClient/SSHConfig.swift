import Foundation

/// A parsed ssh_config file, with `Include`s read in place. Evaluated per host by `options(forHost:)`, the way
/// OpenSSH reads it: `Host` and `Match` lines switch the blocks that follow on or off; an `Include` inside a block is
/// read only when that block applies, and its own `Host` lines end at the end of the included file.
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

    enum MatchCondition: Sendable {
        case all
        case host([String])
        case originalHost([String])
        /// A criterion pss does not evaluate (`exec`, `user`, `localuser`, ...): the block never applies.
        case unsupported(String)
    }

    var entries: [Entry]
    /// Things worth telling a user with `-v`: unknown keywords, Match criteria not evaluated.
    public private(set) var notes: [String]

    /// Where relative `Include` paths start: `~/.ssh` for a user's file, `/etc/ssh` for the system's.
    public static func load(path: String, includeBase: String) throws -> SSHConfig {
        var notes: [String] = []
        let entries = try readFile(path: path, includeBase: includeBase, depth: 0, notes: &notes)
        return SSHConfig(entries: entries, notes: notes)
    }

    public static func parse(_ text: String, file: String = "(config)", includeBase: String = "/") throws -> SSHConfig {
        var notes: [String] = []
        let entries = try parseText(text, file: file, includeBase: includeBase, depth: 0, notes: &notes)
        return SSHConfig(entries: entries, notes: notes)
    }

    /// The options that apply to `alias` (the host as the user wrote it), in file order.
    public func options(forHost alias: String) -> [Option] {
        var result: [Option] = []
        Self.collect(entries, alias: alias.lowercased(), into: &result)
        return result
    }

    private static func collect(_ entries: [Entry], alias: String, into result: inout [Option]) {
        var active = true
        for entry in entries {
            switch entry {
            case let .option(option):
                if active { result.append(option) }
            case let .host(patterns):
                active = HostPattern.matches(alias, patternList: patterns)
            case let .match(condition):
                switch condition {
                case .all: active = true
                case let .host(patterns), let .originalHost(patterns):
                    active = HostPattern.matches(alias, patternList: patterns)
                case .unsupported: active = false
                }
            case let .include(included):
                if active { collect(included, alias: alias, into: &result) }
            }
        }
    }

    // MARK: Reading

    static let maximumIncludeDepth = 16

    private static func readFile(path: String, includeBase: String, depth: Int, notes: inout [String]) throws -> [Entry] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SSHConfigError(file: path, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        return try parseText(text, file: path, includeBase: includeBase, depth: depth, notes: &notes)
    }

    private static func parseText(_ text: String, file: String, includeBase: String, depth: Int,
                                  notes: inout [String]) throws -> [Entry] {
        var entries: [Entry] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let fail = { (message: String) in SSHConfigError(file: file, line: lineNumber, message: message) }
            guard let (word, arguments) = try splitLine(rawLine, fail: fail) else { continue }
            guard let keyword = SSHConfigKeyword(rawValue: word.lowercased()) else {
                notes.append("\(file):\(lineNumber): ignoring keyword '\(word.sanitizedForDisplay)', which pss does not use")
                continue
            }
            switch keyword {
            case .host:
                guard !arguments.isEmpty else { throw fail("Host needs at least one pattern") }
                entries.append(.host(patterns: arguments))
            case .match:
                entries.append(.match(try parseMatch(arguments, fail: fail, notes: &notes, where: "\(file):\(lineNumber)")))
            case .include:
                guard !arguments.isEmpty else { throw fail("Include needs a file name") }
                guard depth < maximumIncludeDepth else { throw fail("Include nested too deeply") }
                var included: [Entry] = []
                for pattern in arguments {
                    var path = PathExpansion.tilde(pattern)
                    if !path.hasPrefix("/") { path = includeBase + "/" + path }
                    for match in PathExpansion.glob(path) {
                        included += try readFile(path: match, includeBase: includeBase, depth: depth + 1, notes: &notes)
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

    private static func parseMatch(_ arguments: [String], fail: (String) -> SSHConfigError,
                                   notes: inout [String], where location: String) throws -> MatchCondition {
        guard let criterion = arguments.first?.lowercased() else { throw fail("Match needs a criterion") }
        switch criterion {
        case "all":
            return .all
        case "host", "originalhost":
            guard arguments.count == 2 else { throw fail("Match \(criterion) needs one comma-separated pattern list") }
            let patterns = arguments[1].split(separator: ",").map(String.init)
            return criterion == "host" ? .host(patterns) : .originalHost(patterns)
        default:
            notes.append("\(location): 'Match \(criterion)' is not evaluated by pss; the block is skipped")
            return .unsupported(criterion)
        }
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
            } else if character == " " || character == "\t" {
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

/// A malformed ssh_config line, located by file and line as ssh reports it.
public struct SSHConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var message: String

    public var description: String {
        line > 0 ? "\(file) line \(line): \(message)" : "\(file): \(message)"
    }
}

/// The ssh_config keywords pss reads. Others are ignored (with a note under `-v`), so a config written for ssh
/// stays usable.
public enum SSHConfigKeyword: String, Sendable, CaseIterable {
    case host, match, include
    case hostName = "hostname"
    case port, user
    case identityFile = "identityfile"
    case identitiesOnly = "identitiesonly"
    case identityAgent = "identityagent"
    case userKnownHostsFile = "userknownhostsfile"
    case globalKnownHostsFile = "globalknownhostsfile"
    case strictHostKeyChecking = "stricthostkeychecking"
    case connectTimeout = "connecttimeout"
    case serverAliveInterval = "serveraliveinterval"
    case serverAliveCountMax = "serveralivecountmax"
    case batchMode = "batchmode"
    case passwordAuthentication = "passwordauthentication"
    case pubkeyAuthentication = "pubkeyauthentication"
    case kbdInteractiveAuthentication = "kbdinteractiveauthentication"
    case proxyJump = "proxyjump"

    /// Whether every occurrence counts (IdentityFile) rather than only the first.
    var accumulates: Bool { self == .identityFile }

    func validate(_ arguments: [String], fail: (String) -> SSHConfigError) throws {
        let name = SSHConfigKeyword.displayNames[self] ?? rawValue
        guard let first = arguments.first else { throw fail("\(name) needs a value") }
        func single() throws {
            if arguments.count > 1 { throw fail("\(name) takes one value, got \(arguments.count)") }
        }
        switch self {
        case .port:
            try single()
            guard let port = Int(first), (1...65535).contains(port) else { throw fail("bad port '\(first.sanitizedForDisplay)'") }
        case .connectTimeout, .serverAliveInterval:
            try single()
            guard SSHConfigKeyword.seconds(first) != nil else { throw fail("bad time '\(first.sanitizedForDisplay)' for \(name)") }
        case .serverAliveCountMax:
            try single()
            guard let count = Int(first), count >= 0 else { throw fail("bad number '\(first.sanitizedForDisplay)' for \(name)") }
        case .identitiesOnly, .batchMode, .passwordAuthentication, .pubkeyAuthentication, .kbdInteractiveAuthentication:
            try single()
            guard SSHConfigKeyword.flag(first) != nil else { throw fail("\(name) must be yes or no, not '\(first.sanitizedForDisplay)'") }
        case .strictHostKeyChecking:
            try single()
            guard StrictHostKeyChecking(configValue: first) != nil else {
                throw fail("StrictHostKeyChecking must be yes, ask, accept-new or no, not '\(first.sanitizedForDisplay)'")
            }
        case .hostName, .user, .identityFile, .identityAgent, .proxyJump:
            try single()
        case .userKnownHostsFile, .globalKnownHostsFile, .host, .match, .include:
            break
        }
    }

    static let displayNames: [SSHConfigKeyword: String] = [
        .hostName: "HostName", .port: "Port", .user: "User", .identityFile: "IdentityFile",
        .identitiesOnly: "IdentitiesOnly", .identityAgent: "IdentityAgent",
        .userKnownHostsFile: "UserKnownHostsFile", .globalKnownHostsFile: "GlobalKnownHostsFile",
        .strictHostKeyChecking: "StrictHostKeyChecking", .connectTimeout: "ConnectTimeout",
        .serverAliveInterval: "ServerAliveInterval", .serverAliveCountMax: "ServerAliveCountMax",
        .batchMode: "BatchMode", .passwordAuthentication: "PasswordAuthentication",
        .pubkeyAuthentication: "PubkeyAuthentication", .kbdInteractiveAuthentication: "KbdInteractiveAuthentication",
        .proxyJump: "ProxyJump",
    ]

    static func flag(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "yes", "true": return true
        case "no", "false": return false
        default: return nil
        }
    }

    /// ssh's time format for these keywords: `30`, `30s`, `5m`, `1h`, and sums such as `1m30s`.
    static func seconds(_ value: String) -> Int? {
        var total = 0
        var digits = ""
        for character in value.lowercased() {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            guard let number = Int(digits) else { return nil }
            switch character {
            case "s": total += number
            case "m": total += number * 60
            case "h": total += number * 3600
            case "d": total += number * 86400
            case "w": total += number * 604_800
            default: return nil
            }
            digits = ""
        }
        if !digits.isEmpty {
            guard let number = Int(digits) else { return nil }
            total += number
        }
        return value.isEmpty ? nil : total
    }
}

/// ssh's host patterns: `*` and `?` wildcards, `!` negation, case-insensitive.
public enum HostPattern {
    /// A pattern list matches when some pattern matches and no negated pattern does.
    public static func matches(_ host: String, patternList: [String]) -> Bool {
        let host = host.lowercased()
        var matched = false
        for pattern in patternList {
            if pattern.hasPrefix("!") {
                if wildcardMatch(host, Substring(pattern.dropFirst()).lowercased()) { return false }
            } else if wildcardMatch(host, pattern.lowercased()) {
                matched = true
            }
        }
        return matched
    }

    public static func wildcardMatch(_ text: String, _ pattern: String) -> Bool {
        let t = Array(text.unicodeScalars), p = Array(pattern.unicodeScalars)
        var ti = 0, pi = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                ti += 1; pi += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
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
