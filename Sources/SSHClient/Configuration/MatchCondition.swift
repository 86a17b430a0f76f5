import Glibc

/// A `Match` line: criteria that must all hold, each of which may be negated with `!`, evaluated as OpenSSH 9.2
/// evaluates them: `all`, `canonical`, `final`, `host`, `originalhost`, `user`, `localuser`, `exec`. A criterion
/// pss does not know refuses the file (as ssh does), so no block is ever skipped silently.
struct MatchCondition: Sendable {
    enum Criterion: Sendable, Equatable {
        case all, canonical, final
        case host(String), originalHost(String), user(String), localUser(String), exec(String)
    }

    struct Term: Sendable, Equatable {
        var negated: Bool
        var criterion: Criterion
    }

    let terms: [Term]
    let file: String
    let line: Int

    init(parsing arguments: [String], file: String, line: Int) throws {
        self.file = file
        self.line = line
        let fail = { (message: String) in SSHConfigError(file: file, line: line, message: message) }
        var terms: [Term] = []
        var index = 0
        while index < arguments.count {
            var word = arguments[index].lowercased()
            index += 1
            let negated = word.hasPrefix("!")
            if negated { word.removeFirst() }
            switch word {
            case "all":
                // `all` ends the line and follows at most one criterion (as in ssh: `final all`).
                guard index == arguments.count, terms.count <= 1 else {
                    throw fail("'all' cannot be combined with other Match criteria")
                }
                terms.append(Term(negated: negated, criterion: .all))
            case "canonical", "final":
                terms.append(Term(negated: negated, criterion: word == "final" ? .final : .canonical))
            case "host", "originalhost", "user", "localuser", "exec":
                guard index < arguments.count else { throw fail("Match \(word) needs an argument") }
                let argument = arguments[index]
                index += 1
                let criterion: Criterion
                switch word {
                case "host": criterion = .host(argument)
                case "originalhost": criterion = .originalHost(argument)
                case "user": criterion = .user(argument)
                case "localuser": criterion = .localUser(argument)
                default: criterion = .exec(argument)
                }
                terms.append(Term(negated: negated, criterion: criterion))
            default:
                throw fail(
                    "unsupported Match criterion '\(word.sanitizedForDisplay)' (pss evaluates all, canonical, final, host, originalhost, user, localuser and exec)"
                )
            }
        }
        guard !terms.isEmpty else { throw fail("Match needs at least one criterion") }
        self.terms = terms
    }

    /// Whether the lines after this Match apply. `exec` runs only while every earlier criterion holds, as in ssh.
    func evaluate(_ evaluation: inout ConfigEvaluation) throws -> Bool {
        var result = true
        for term in terms {
            let holds: Bool
            switch term.criterion {
            case .all:
                holds = true
            case .canonical:
                holds = evaluation.isFinalPass
            case .final:
                evaluation.wantsFinalPass = true  // negated too: ssh 9.2 reads a second time for any `final`
                holds = evaluation.isFinalPass
            case let .host(patterns):
                holds = HostPattern.matchHostname(evaluation.currentHostName, patterns) == .matched
            case let .originalHost(patterns):
                holds = HostPattern.matchHostname(evaluation.originalHost, patterns) == .matched
            case let .user(patterns):
                holds = HostPattern.matchList(evaluation.currentUser, patterns, lowercasingPatterns: false) == .matched
            case let .localUser(patterns):
                holds = HostPattern.matchList(LocalUser.name, patterns, lowercasingPatterns: false) == .matched
            case let .exec(command):
                guard result else { continue }
                holds = try run(evaluation.tokens.expand(command, forExec: true)) == 0
            }
            if holds == term.negated { result = false }
        }
        return result
    }

    /// Runs `command` as ssh's Match exec does: `$SHELL -c command` (or /bin/sh), stdin and stdout on /dev/null,
    /// stderr ours. Returns its exit status.
    private func run(_ command: String) throws -> Int32 {
        let fail = { (message: String) in SSHConfigError(file: file, line: line, message: message) }
        let shell = LocalUser.shell
        guard access(shell, X_OK) == 0 else { throw fail("Match exec: the shell \(shell) is not executable") }
        let pid: pid_t
        do {
            pid = try ChildProcess.spawn(
                shell, arguments: [shell, "-c", command], descriptors: [.open("/dev/null", flags: O_RDONLY), .open("/dev/null", flags: O_WRONLY)])
        } catch {
            throw fail("Match exec '\(command.sanitizedForDisplay)': \(error)")
        }
        var wait: Int32 = 0
        while waitpid(pid, &wait, 0) < 0 && errno == EINTR {}
        guard wait & 0x7F == 0 else { throw fail("Match exec '\(command.sanitizedForDisplay)' was killed by signal \(wait & 0x7F)") }
        return (wait >> 8) & 0xFF
    }
}

/// One reading of ssh_config for one host, as ssh makes it: the first value obtained for each keyword (command line
/// first), and what `Host` and `Match` lines are tested against at each point of the reading.
struct ConfigEvaluation {
    /// The host as the user wrote it (ssh's original host).
    let originalHost: String
    /// The second reading (after `Match final`, or with CanonicalizeHostname): `Host` lines then test the resolved
    /// host name, and `Match final` and `Match canonical` hold.
    private(set) var isFinalPass = false
    var wantsFinalPass = false
    private(set) var values: [SSHConfigKeyword: [String]] = [:]
    private(set) var identityFiles: [String] = []

    init(originalHost: String) {
        self.originalHost = originalHost
    }

    mutating func obtain(_ option: SSHConfig.Option) {
        if option.keyword.accumulates {
            identityFiles.append(option.arguments[0])
        } else if values[option.keyword] == nil {
            values[option.keyword] = option.arguments
        }
    }

    func value(_ keyword: SSHConfigKeyword) -> String? { values[keyword]?.first }

    /// A `Host` line: some pattern matches (case-sensitively, as ssh) and no `!` pattern does.
    func matchesHostLine(_ patterns: [String]) -> Bool {
        let host = isFinalPass ? currentHostName : originalHost
        var matched = false
        for pattern in patterns {
            if pattern.hasPrefix("!") {
                if HostPattern.wildcardMatch(host, String(pattern.dropFirst())) { return false }
            } else if HostPattern.wildcardMatch(host, pattern) {
                matched = true
            }
        }
        return matched
    }

    /// What `Match host` tests: the HostName obtained so far (its `%h` expanded), else the host as written.
    var currentHostName: String {
        guard let hostName = value(.hostName) else { return originalHost }
        return isFinalPass ? hostName : PercentTokens.expandHostName(hostName, alias: originalHost)
    }

    var currentUser: String { value(.user) ?? LocalUser.name }
    var currentPort: Int { value(.port).flatMap { Int($0) } ?? 22 }

    var tokens: PercentTokens {
        PercentTokens(
            alias: originalHost, hostName: currentHostName, port: currentPort, remoteUser: currentUser,
            hostKeyAlias: value(.hostKeyAlias))
    }

    /// Starts the second reading: the host name is now final (lower case), as ssh sets it before re-reading.
    mutating func beginFinalPass() {
        let resolved = currentHostName.asciiLowercased
        values[.hostName] = [resolved]
        isFinalPass = true
    }
}
