import Glibc
import SessionWire

/// A session configuration (PowerShell's endpoint): a named policy an admin puts on a host, as
/// `/etc/pss/configurations/NAME.json`. Read the same way whether `pss config register` wrote it or an admin did
/// by hand; anything doubtful is refused with the reason, never half-applied.
public struct SessionConfiguration: Equatable {
    public var name: String
    public var runAs: String?
    public var allowUsers: [String] = []
    public var allowGroups: [String] = []
    /// nil: any command (a shell); else only these (`CommandPattern`s, no shell at all).
    public var allowedCommands: [String]?
    public var idleTimeoutSeconds: UInt32?
    public var maxSessionsPerUser: Int?
    /// The most output a session may hold unacknowledged (`--max-buffer` is capped at it).
    public var maxBufferBytes: UInt64?
    /// The most jobs each user may keep in the configuration's sessions, running or ended and not removed.
    public var maxJobsPerUser: Int?
    public var environment: [(name: String, value: String)] = []
    public var startupScript: String?
    public var transcriptDirectory: String?
    /// Users whose SSH logins are locked to the helper in this configuration (an sshd drop-in `register` writes).
    public var lockUsers: [String] = []

    /// Jobs each user may keep: `maxJobsPerUser`, or a thousand (a loop of `--as-job` fills no disk).
    public var jobsPerUser: Int { maxJobsPerUser ?? 1000 }

    public static func == (lhs: SessionConfiguration, rhs: SessionConfiguration) -> Bool {
        lhs.name == rhs.name && lhs.runAs == rhs.runAs && lhs.allowUsers == rhs.allowUsers && lhs.allowGroups == rhs.allowGroups
            && lhs.allowedCommands == rhs.allowedCommands && lhs.idleTimeoutSeconds == rhs.idleTimeoutSeconds
            && lhs.maxSessionsPerUser == rhs.maxSessionsPerUser && lhs.maxBufferBytes == rhs.maxBufferBytes
            && lhs.maxJobsPerUser == rhs.maxJobsPerUser && lhs.environment.elementsEqual(rhs.environment, by: { $0 == $1 })
            && lhs.startupScript == rhs.startupScript && lhs.transcriptDirectory == rhs.transcriptDirectory
            && lhs.lockUsers == rhs.lockUsers
    }

    /// Why a configuration is refused: every problem found, one a line.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public var problems: [String]
        public var description: String { problems.joined(separator: "; ") }
    }

    /// The accounts a configuration names, as the host knows them (a small protocol: the unit tests give their own).
    public protocol Accounts {
        func uid(ofUser name: String) -> uid_t?
        func groupExists(_ name: String) -> Bool
        func primaryGroup(ofUser name: String) -> gid_t?
        /// The names of all the groups the user is in (primary and supplementary).
        func groups(ofUser name: String) -> [String]
    }

    /// Groups whose members have root's powers, or near enough (sudo, a container runtime's socket, raw disks,
    /// the shadow file, kernel memory, the system's logs): a runAs user in one is treated as root.
    static let powerfulGroups: Set<String> = [
        "root", "sudo", "wheel", "admin", "docker", "podman", "disk", "adm", "lxd", "lxc", "incus-admin", "shadow", "kmem", "libvirt",
        "systemd-journal",
    ]

    static let fields: Set<String> = [
        "runAs", "allowUsers", "allowGroups", "allowedCommands", "idleTimeoutSeconds", "maxSessionsPerUser", "maxBufferBytes",
        "maxJobsPerUser", "environment", "startupScript", "transcriptDirectory", "lockUsers",
    ]

    public init(name: String, parsing bytes: [UInt8], accounts: Accounts) throws(Refusal) {
        var problems: [String] = []
        self.name = name
        if let problem = ConfigurationName.problem(with: name) { problems.append(problem) }
        let json: JSONValue
        do { json = try JSONValue(parsing: bytes) } catch { throw Refusal(problems: problems + ["not valid JSON (\(error))"]) }
        guard case let .object(members) = json else { throw Refusal(problems: problems + ["the file must hold one JSON object"]) }
        if members.isEmpty { problems.append("the configuration sets nothing (at least one field)") }
        for (key, value) in members {
            guard Self.fields.contains(key) else {
                problems.append("unknown field \"\(key)\" (known: \(Self.fields.sorted().joined(separator: ", ")))")
                continue
            }
            switch (key, value) {
            case let ("runAs", .string(user)):
                runAs = user
            case let ("allowUsers", .array(items)), let ("allowGroups", .array(items)), let ("allowedCommands", .array(items)),
                let ("lockUsers", .array(items)):
                var strings: [String] = []
                for item in items {
                    if case let .string(text) = item { strings.append(text) } else { problems.append("\(key) holds strings only") }
                }
                switch key {
                case "allowUsers": allowUsers = strings
                case "allowGroups": allowGroups = strings
                case "lockUsers": lockUsers = strings
                default: allowedCommands = strings
                }
            case let ("idleTimeoutSeconds", .integer(seconds)):
                if seconds < Int64(SessionRecord.minimumIdleTimeout) || seconds > Int64(UInt32.max) {
                    problems.append("idleTimeoutSeconds must be from \(SessionRecord.minimumIdleTimeout) to \(UInt32.max)")
                } else {
                    idleTimeoutSeconds = UInt32(seconds)
                }
            case let ("maxSessionsPerUser", .integer(count)):
                if count < 1 || count > 10_000 { problems.append("maxSessionsPerUser must be from 1 to 10000") } else { maxSessionsPerUser = Int(count) }
            case let ("maxBufferBytes", .integer(bytes)):
                if bytes < 1 << 16 || UInt64(bytes) > SessionRecord.defaultMaxBuffer {
                    problems.append("maxBufferBytes must be from 65536 to \(SessionRecord.defaultMaxBuffer)")
                } else {
                    maxBufferBytes = UInt64(bytes)
                }
            case let ("maxJobsPerUser", .integer(count)):
                if count < 1 || count > 100_000 { problems.append("maxJobsPerUser must be from 1 to 100000") } else { maxJobsPerUser = Int(count) }
            case let ("environment", .object(pairs)):
                for (variable, setting) in pairs {
                    guard case let .string(text) = setting else {
                        problems.append("environment: \(variable) must be a string")
                        continue
                    }
                    if let problem = Self.problem(withVariable: variable, value: text) { problems.append("environment: \(problem)") }
                    environment.append((variable, text))
                }
            case let ("startupScript", .string(path)), let ("transcriptDirectory", .string(path)):
                if !path.hasPrefix("/") || path.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                    problems.append("\(key) must be an absolute path")
                } else if path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().contains(where: { ["", ".", ".."].contains($0) }) {
                    problems.append("\(key) must name its directories plainly: no '.', '..' or empty parts (\(path))")
                }
                if key == "startupScript" { startupScript = path } else { transcriptDirectory = path }
            default:
                problems.append("\(key) has the wrong type")
            }
        }
        // Account names go into sudoers and the account databases: plain names only (a NUL would cut a lookup
        // short, capitals could name a sudoers alias, `ALL` is a wildcard there).
        for (field, names) in [("allowUsers", allowUsers), ("allowGroups", allowGroups), ("runAs", runAs.map { [$0] } ?? []), ("lockUsers", lockUsers)] {
            for name in names where !Self.isPlainAccountName(name) {
                problems.append("\(field): \"\(Self.shown(name))\" is not a plain account name (letters, digits, '.', '_', '-')")
            }
        }
        for user in allowUsers where Self.isPlainAccountName(user) && accounts.uid(ofUser: user) == nil {
            problems.append("allowUsers: no user \"\(user)\" on this host")
        }
        for user in lockUsers where Self.isPlainAccountName(user) {
            if let uid = accounts.uid(ofUser: user) {
                if uid == 0 { problems.append("lockUsers: \(user) is root: locking root's logins to the helper would lock the administrator out") }
            } else {
                problems.append("lockUsers: no user \"\(user)\" on this host")
            }
            if !allowUsers.isEmpty || !allowGroups.isEmpty, !allowUsers.contains(user) {
                problems.append("lockUsers: \(user) is not in allowUsers (a locked user must be allowed by name)")
            }
        }
        for group in allowGroups where Self.isPlainAccountName(group) && !accounts.groupExists(group) {
            problems.append("allowGroups: no group \"\(group)\" on this host")
        }
        if let runAs, Self.isPlainAccountName(runAs) {
            if let uid = accounts.uid(ofUser: runAs) {
                let powerful = accounts.groups(ofUser: runAs).filter(Self.powerfulGroups.contains).sorted()
                if uid == 0 || accounts.primaryGroup(ofUser: runAs) == 0 || !powerful.isEmpty, allowedCommands == nil {
                    let why =
                        uid == 0 ? "uid 0" : powerful.isEmpty ? "group root" : "group\(powerful.count == 1 ? "" : "s") \(powerful.joined(separator: ", "))"
                    problems.append(
                        "runAs \(runAs) has root's powers (\(why)): without allowedCommands every allowed user would have a root shell; list the commands"
                    )
                }
            } else {
                problems.append("runAs: no user \"\(runAs)\" on this host")
            }
            if allowUsers.isEmpty && allowGroups.isEmpty {
                problems.append("runAs needs allowUsers or allowGroups: who may act as \(runAs) is never everyone by default")
            }
        }
        for (field, text) in [("startupScript", startupScript), ("transcriptDirectory", transcriptDirectory)] + environment.map({ ("environment", $0.value) })
        where text.map(Self.hasControlBytes) == true {
            problems.append("\(field): control characters are not allowed")
        }
        for command in allowedCommands ?? [] {
            do { _ = try CommandPattern(parsing: command) } catch { problems.append("allowedCommands: \"\(command)\": \(error)") }
        }
        if transcriptDirectory != nil && runAs == nil {
            problems.append(
                "transcriptDirectory needs runAs: sessions that run as their own user could read and rewrite anything that user may write")
        }
        if startupScript != nil && allowedCommands != nil {
            problems.append("startupScript needs a shell, and a configuration with allowedCommands has none")
        }
        if allowedCommands?.isEmpty == true { problems.append("allowedCommands is empty: no command could run (leave it out for a shell)") }
        if !problems.isEmpty { throw Refusal(problems: problems) }
    }

    /// A user or group name as sudoers and the account databases take it literally: ASCII letters, digits, `.`, `_`,
    /// `-`, not starting with `-`, at most 32 bytes, and not all capitals (sudoers reads those as aliases).
    static func isPlainAccountName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 32, bytes[0] != UInt8(ascii: "-") else { return false }
        let plain = bytes.allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
        let allCapitals = !bytes.contains { (0x61...0x7A).contains($0) }
        return plain && !allCapitals
    }

    static func hasControlBytes(_ text: String) -> Bool {
        text.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }

    /// A name as a message may show it: control bytes escaped.
    static func shown(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\x" + String($0.value, radix: 16) : String($0) }.joined())
    }

    /// The variables a configuration may set, an allow-list: the locale (LANG, LANGUAGE, LC_*), the time zone, and
    /// the site's own, named PSS_* (a namespace no loader, interpreter or shell reads), but those pss sets or reads
    /// itself. A deny-list of what changes what runs (LD_*, GCONV_PATH, GLIBC_TUNABLES, PERL5OPT, PYTHONPATH,
    /// NODE_OPTIONS, BASH_ENV...) is never complete.
    static func problem(withVariable name: String, value: String) -> String? {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "_") || (0x41...0x5A).contains(first) || (0x61...0x7A).contains(first),
            bytes.allSatisfy({ $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) })
        else { return "\"\(name)\" is not a variable name" }
        let locale = ["LANG", "LANGUAGE", "TZ"].contains(name) || name.hasPrefix("LC_")
        let own = name.hasPrefix("PSS_") && name.count > 4 && !Self.reservedPrefixes.contains { name.hasPrefix($0) }
        guard locale || own else {
            return
                "\(name) may not be set by a configuration: it sets the locale (LANG, LANGUAGE, LC_*), TZ, and variables of the site's own named PSS_* (not \(Self.reservedPrefixes.map { $0 + "*" }.joined(separator: ", ")))"
        }
        if value.utf8.contains(0) { return "\(name) holds a NUL" }
        return nil
    }

    /// PSS_ names pss sets for sessions or reads itself.
    static let reservedPrefixes = ["PSS_SESSION_", "PSS_HOST", "PSS_CLIENT", "PSS_HELPER", "PSS_CIPHER"]

    /// Whether `user` (with these groups) may use the configuration: listed, or in a listed group; anybody when
    /// neither list is given.
    public func allows(user: String, groups: [String]) -> Bool {
        if allowUsers.isEmpty && allowGroups.isEmpty { return true }
        let same = { (a: String, b: String) in a.utf8.elementsEqual(b.utf8) }  // bytes, as Unix compares names
        return allowUsers.contains { same($0, user) } || groups.contains { group in allowGroups.contains { same($0, group) } }
    }
}

/// The host's own accounts, from the password and group databases.
public struct SystemAccounts: SessionConfiguration.Accounts {
    public init() {}

    public func uid(ofUser name: String) -> uid_t? {
        AccountDatabase.user(named: name)?.uid
    }

    public func groupExists(_ name: String) -> Bool {
        AccountDatabase.group(named: name) != nil
    }

    public func primaryGroup(ofUser name: String) -> gid_t? {
        AccountDatabase.user(named: name)?.gid
    }

    public func groups(ofUser name: String) -> [String] {
        ConfigurationGate.groups(of: name)
    }
}
