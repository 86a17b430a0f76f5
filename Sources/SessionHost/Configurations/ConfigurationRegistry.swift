import Glibc
import SessionWire

/// The host's session configurations, where every user's daemon reads them: `/etc/pss/configurations/NAME.json`
/// (root's, 0644), the helper they run installed system-wide in `/usr/local/lib/pss/` (root's, not writable by
/// others), and for a runAs configuration a sudoers drop-in that lets exactly its allowed users and groups run
/// exactly that helper, with fixed arguments naming the configuration, as the runAs user, without a password.
/// Only root changes them; any user lists them.
public struct ConfigurationRegistry {
    public var directory = "/etc/pss/configurations"
    public var helperDirectory = "/usr/local/lib/pss"
    public var sudoersDirectory = "/etc/sudoers.d"
    public var sshdDirectory = "/etc/ssh/sshd_config.d"
    var accounts: SessionConfiguration.Accounts = SystemAccounts()

    public init() {}

    public var helperPath: String { helperDirectory + "/pss-host" }

    /// Configuration `name`'s file (a checked name: never a path of its own).
    public func file(for name: String) -> String { directory + "/" + name + ".json" }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// One configuration file found: its name, its text, and why it cannot be used (nil when it can).
    public struct Entry {
        public var name: String
        public var text: [UInt8]
        public var problem: String?
    }

    /// The sudoers drop-in's name for a configuration: sudo skips files whose names hold a `.`, so `.` is written
    /// `_d` and `_` doubled (one name, one file).
    func sudoersPath(for name: String) -> String {
        sudoersDirectory + "/pss-" + Self.encoded(name)
    }

    private static func encoded(_ name: String) -> String {
        var encoded = ""
        for character in name {
            switch character {
            case ".": encoded += "_d"
            case "_": encoded += "__"
            default: encoded.append(character)
            }
        }
        return encoded
    }

    /// The sshd drop-in that locks `lockUsers` to the helper (sshd reads `*.conf` there when its main file includes
    /// them, as Debian's does).
    public func sshdPath(for name: String) -> String {
        sshdDirectory + "/pss-" + Self.encoded(name) + ".conf"
    }

    /// For each locked user: every login runs the helper in `locked` mode (through the user's login shell, as sshd
    /// runs any command), with no terminal, no forwarding and no ~/.ssh/rc.
    func sshdText(for configuration: SessionConfiguration) -> String {
        let blocks = configuration.lockUsers.map { user in
            """
            Match User \(user)
                ForceCommand \(helperPath) locked \(configuration.name)
                PermitTTY no
                DisableForwarding yes
                PermitUserRC no
            """
        }
        return "# pss configuration \(configuration.name): written by `pss config register`, removed by `pss config unregister`.\n"
            + blocks.joined(separator: "\n") + "\nMatch all\n"
    }

    /// The drop-in's text: the allowed users and groups (every user when none is listed) may run the system-wide
    /// helper as the runAs user with exactly `runas NAME`, and nothing else.
    func sudoersText(for configuration: SessionConfiguration) -> String {
        // Names in double quotes: sudoers takes them literally (never as an alias); they are plain names already.
        let who = configuration.allowUsers.map { "\"\($0)\"" } + configuration.allowGroups.map { "\"%\($0)\"" }
        return """
            # pss configuration \(configuration.name): written by `pss config register`, removed by `pss config unregister`.
            \(who.joined(separator: ", ")) ALL = ("\(configuration.runAs ?? "")") NOPASSWD: \(helperPath) runas \(configuration.name)

            """
    }

    /// Validates and installs `text` as configuration `name`; returns what was done, a line each.
    public func register(name: String, text: [UInt8]) throws -> [String] {
        guard geteuid() == 0 else { throw Refusal(description: "registering a configuration needs root on the host (log in as root)") }
        let configuration: SessionConfiguration
        do { configuration = try SessionConfiguration(name: name, parsing: text, accounts: accounts) } catch {
            throw Refusal(description: "configuration \(name) refused: \(error)")
        }
        // A runAs account serves one configuration: sessions of two configurations under one account could reach
        // each other's sockets, spools and transcripts.
        if let runAs = configuration.runAs, let other = self.configuration(otherThan: name, runningAs: runAs) {
            throw Refusal(description: "configuration \(name) refused: runAs \(runAs) already serves configuration \(other); give each its own account")
        }
        for user in configuration.lockUsers {
            if let problem = Self.lockProblem(user) { throw Refusal(description: "configuration \(name) refused: lockUsers: \(problem)") }
        }
        var done: [String] = []
        try Self.rootDirectory("/etc/pss")
        try Self.rootDirectory(directory)
        try Self.rootDirectory("/usr/local/lib")
        try Self.rootDirectory(helperDirectory)
        // Through /proc/self/exe: the file running, even if its path was replaced since.
        guard let helper = Posix.readFile("/proc/self/exe", followingLink: true) else {
            throw Refusal(description: "cannot read the running helper")
        }
        if Posix.readFile(helperPath) != helper {
            try Posix.writeFileAtomically(helperPath, helper, mode: 0o755)
            done.append("installed the helper as \(helperPath)")
        }
        // The file first, then the grant: a failed grant takes the file back, so the two never disagree.
        let file = file(for: name)
        let previous = Posix.readFile(file, limit: JSONValue.maximumSize)
        try Posix.writeFileAtomically(file, text, mode: 0o644)
        done.append("wrote \(file)")
        let sudoers = sudoersPath(for: name)
        if configuration.runAs != nil {
            do { try installSudoers(sudoersText(for: configuration), at: sudoers) } catch {
                if let previous { try? Posix.writeFileAtomically(file, previous, mode: 0o644) } else { unlink(file) }
                throw error
            }
            done.append("wrote \(sudoers) (checked with visudo)")
        } else if unlink(sudoers) == 0 {
            done.append("removed \(sudoers) (no runAs any more)")
        }
        if let directory = configuration.transcriptDirectory, let runAs = configuration.runAs {
            try prepareTranscriptDirectory(directory, for: runAs)
            done.append("made \(directory) the transcripts' directory (\(runAs)'s, 0700)")
        }
        let sshd = sshdPath(for: name)
        if !configuration.lockUsers.isEmpty {
            try Self.rootDirectory(sshdDirectory)
            try Posix.writeFileAtomically(sshd, Array(sshdText(for: configuration).utf8), mode: 0o644)
            done.append(
                "wrote \(sshd): \(configuration.lockUsers.joined(separator: ", ")) may use only pss in \(name) over SSH once sshd is reloaded (systemctl reload ssh)"
            )
            let main = String(decoding: Posix.readFile("/etc/ssh/sshd_config", limit: 1 << 20) ?? [], as: UTF8.self)
            let includes = main.split(separator: "\n").contains { line in
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                return words.first?.lowercased() == "include" && words.dropFirst().contains { $0.hasPrefix(sshdDirectory) || $0.hasPrefix("sshd_config.d/") }
            }
            if !includes {
                done.append(
                    "WARNING: /etc/ssh/sshd_config does not include \(sshdDirectory)/*.conf: sshd will not read \(sshd) until it does (Include \(sshdDirectory)/*.conf, before any Match)"
                )
            }
        } else if unlink(sshd) == 0 {
            done.append("removed \(sshd) (no lockUsers any more)")
        }
        return done
    }

    /// Why locking `user` to the helper would not hold, or nil. sshd runs ForceCommand through the user's login
    /// shell (`SHELL -c COMMAND`), and some shells read the user's own files first: bash ~/.bashrc (for a command
    /// from sshd), zsh ~/.zshenv. A user who can write such a file (or make it: a home they can write) runs what
    /// they like before the lock. sh (dash, or bash as sh) reads nothing for `-c`.
    static func lockProblem(_ user: String) -> String? {
        guard let account = AccountDatabase.user(named: user) else { return "no user \(user)" }
        let shell = account.shell.split(separator: "/").last.map(String.init) ?? ""
        let files: [String]
        switch shell {
        case "sh", "dash", "ash": return nil
        case "bash", "rbash": files = [".bashrc"]
        case "zsh": files = [".zshenv"]
        case "nologin", "false":
            return
                "\(user)'s login shell is \(account.shell), through which sshd would run the lock too (it runs nothing): give \(user) /bin/sh (chsh -s /bin/sh \(user))"
        default:
            return
                "\(user)'s login shell \(account.shell) may read files \(user) can write before sshd's ForceCommand, and pss cannot tell which: give \(user) /bin/sh (chsh -s /bin/sh \(user))"
        }
        let groups = Set(AccountDatabase.groups(of: account).map(\.gid) + [account.gid])
        let writable = { (path: String) -> Bool in
            var info = stat()
            guard lstat(path, &info) == 0 else { return false }
            if info.st_mode & S_IFMT == S_IFLNK { return true }  // a link the user may have made, to a file of theirs
            return info.st_uid == account.uid || groups.contains(info.st_gid) && info.st_mode & 0o020 != 0 || info.st_mode & 0o002 != 0
        }
        // The rc file may read others of the home (Debian's .bashrc reads ~/.bash_aliases, Fedora's ~/.bashrc.d/):
        // nothing there may be the user's.
        let mine = [account.home] + Posix.directoryEntries(account.home).map { account.home + "/" + $0 }
        if let writableFile = mine.first(where: writable), let file = files.first {
            return
                "\(user)'s login shell \(account.shell) reads ~/\(file) before sshd's ForceCommand, and \(user) can write \(writableFile): the lock would not hold. Give \(user) a shell that reads no user file (chsh -s /bin/sh \(user)), or a home where nothing is \(user)'s"
        }
        return nil
    }

    /// Removes every trace of configuration `name`; returns what was removed.
    public func unregister(name: String) throws -> [String] {
        guard geteuid() == 0 else { throw Refusal(description: "unregistering a configuration needs root on the host (log in as root)") }
        if let problem = ConfigurationName.problem(with: name) { throw Refusal(description: problem) }
        var removed: [String] = []
        for path in [file(for: name), sudoersPath(for: name), sshdPath(for: name)] where unlink(path) == 0 {
            removed.append("removed \(path)")
        }
        guard !removed.isEmpty else { throw Refusal(description: "no configuration \(name) on this host") }
        let daemons = stopDaemons(of: name)
        if daemons > 0 { removed.append("closed the sessions of \(daemons) daemon\(daemons == 1 ? "" : "s") of \(name)") }
        if list().isEmpty, unlink(helperPath) == 0 { removed.append("removed \(helperPath) (no configuration left)") }
        return removed
    }

    /// The transcripts' directory belongs to the runAs user, whose daemon writes it, and to nobody else. Only its
    /// last part is made (the runAs user's, 0700); its parents must exist. A directory that exists already is never
    /// given away or changed: it must already be the runAs user's and closed to everyone else (re-registering finds
    /// its own), or the admin is told to name a new one.
    func prepareTranscriptDirectory(_ path: String, for user: String) throws {
        guard let account = AccountDatabase.user(named: user) else { throw Refusal(description: "no user \(user)") }
        // Walked one directory at a time from `/`, each opened without following a symlink (openat, O_NOFOLLOW):
        // whoever owns a directory on the way cannot swap a part of the path for a link to somewhere of root's.
        var current = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw Refusal(description: "cannot open /") }
        defer { close(current) }
        let components = path.split(separator: "/").map(String.init)
        var made = false
        for (index, component) in components.enumerated() {
            if index == components.count - 1 {
                if mkdirat(current, component, 0o700) == 0 {
                    made = true
                } else if errno != EEXIST {
                    throw Refusal(description: "cannot make \(path): \(String(cString: strerror(errno)))")
                }
            }
            let next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                let what = errno == ENOENT ? "does not exist (pss makes only the last part)" : "is not a directory (or is a symlink)"
                throw Refusal(description: "transcriptDirectory: \(components[0...index].map { "/" + $0 }.joined()) \(what)")
            }
            close(current)
            current = next
            // A parent another user owns or may write could have the transcripts' directory swapped for another.
            var parent = stat()
            if index < components.count - 1, fstat(current, &parent) == 0,
                parent.st_uid != 0 && parent.st_uid != account.uid || parent.st_mode & 0o022 != 0 && parent.st_mode & S_ISVTX == 0
            {
                throw Refusal(
                    description:
                        "transcriptDirectory: \(components[0...index].map { "/" + $0 }.joined()) must be root's or \(user)'s, and writable by nobody else")
            }
        }
        var info = stat()
        guard fstat(current, &info) == 0 else { throw Refusal(description: "cannot look at \(path)") }
        if made {
            guard fchown(current, account.uid, account.gid) == 0, fchmod(current, 0o700) == 0 else {
                throw Refusal(description: "cannot give \(path) to \(user): \(String(cString: strerror(errno)))")
            }
        } else if info.st_uid != account.uid || info.st_mode & 0o077 != 0 {
            throw Refusal(
                description:
                    "transcriptDirectory: \(path) exists and is not \(user)'s alone (mode 0700): pss changes no existing directory; name a new one, which pss makes"
            )
        }
    }

    /// Sends SIGTERM to every daemon of configuration `name` (`pss-host daemon --configuration NAME`, run from the
    /// system-wide helper): each closes its sessions once it sees the configuration gone. Returns how many.
    func stopDaemons(of name: String) -> Int {
        let wanted = [helperPath, "daemon", "--configuration", name]
        var count = 0
        for entry in Posix.directoryEntries("/proc") {
            guard let pid = pid_t(entry), let command = Posix.readFile("/proc/\(entry)/cmdline", limit: 4096) else { continue }
            let arguments = command.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
            if arguments == wanted, kill(pid, SIGTERM) == 0 { count += 1 }
        }
        return count
    }

    /// Another configuration whose sessions run as `runAs`, if any (a file with problems counts: it may be fixed).
    public func configuration(otherThan name: String, runningAs runAs: String) -> String? {
        for entry in list() where entry.name != name && !entry.text.isEmpty {
            guard case let .object(members)? = try? JSONValue(parsing: entry.text) else { continue }
            if members.contains(where: { $0.0 == "runAs" && $0.1 == .string(runAs) }) { return entry.name }
        }
        return nil
    }

    /// Every configuration file, checked as a session would check it.
    public func list() -> [Entry] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var entries: [Entry] = []
        while let entry = readdir(stream) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard file.hasSuffix(".json"), !file.hasPrefix(".") else { continue }
            let name = String(file.dropLast(5))
            entries.append(load(name))
        }
        return entries.sorted { $0.name < $1.name }
    }

    /// One configuration, as sessions will use it: the file must be root's and writable by nobody else.
    public func load(_ name: String) -> Entry {
        if let problem = ConfigurationName.problem(with: name) { return Entry(name: name, text: [], problem: problem) }
        let path = file(for: name)
        var info = stat()
        guard lstat(path, &info) == 0 else { return Entry(name: name, text: [], problem: "no configuration \(name) on this host") }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_uid == 0, info.st_mode & 0o022 == 0 else {
            return Entry(name: name, text: [], problem: "\(path) must be a regular file owned by root and writable by nobody else")
        }
        guard let text = Posix.readFile(path, limit: JSONValue.maximumSize) else {
            return Entry(name: name, text: [], problem: "cannot read \(path)")
        }
        do {
            _ = try SessionConfiguration(name: name, parsing: text, accounts: accounts)
            return Entry(name: name, text: text, problem: nil)
        } catch {
            return Entry(name: name, text: text, problem: error.description)
        }
    }

    /// A directory root owns and nobody else may write (made 0755 when missing); a symlink is refused.
    static func rootDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 { chmod(path, 0o755) }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == 0, info.st_mode & 0o022 == 0 else {
            throw Refusal(description: "\(path) must be a directory owned by root and writable by nobody else")
        }
    }

    /// Puts a sudoers drop-in in place only once `visudo -cf` accepts it (a broken drop-in would break sudo for
    /// everyone).
    func installSudoers(_ text: String, at path: String) throws {
        let candidates: [String] = ["/usr/sbin/visudo", "/sbin/visudo", "/usr/bin/visudo"]
        let visudo = candidates.first { access($0, X_OK) == 0 }
        guard let visudo else { throw Refusal(description: "a runAs configuration needs sudo, and this host has no visudo") }
        var info = stat()
        guard lstat(sudoersDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == 0, info.st_mode & 0o022 == 0 else {
            throw Refusal(description: "\(sudoersDirectory) is missing, not root's, or writable by others: is sudo installed?")
        }
        let temporary = path + ".pss-new"  // a `.` in the name: sudo skips it while it is checked
        try Posix.writeFileAtomically(temporary, Array(text.utf8), mode: 0o440)
        let output = Self.run(visudo, ["-c", "-q", "-f", temporary])
        guard output.status == 0 else {
            unlink(temporary)
            throw Refusal(description: "visudo refused the sudoers drop-in: \(output.text)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Refusal(description: "cannot put \(path) in place: \(String(cString: strerror(errno)))")
        }
    }

    /// Runs a program to its end: its exit status and what it printed.
    static func run(_ program: String, _ arguments: [String]) -> (status: Int32, text: String) {
        var template = Array("/tmp/pss-output-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { return (-1, "cannot make a temporary file") }
        let path = String(cString: template)
        defer {
            close(fd)
            unlink(path)
        }
        guard
            let pid = try? Posix.spawnInNewSession(
                program, arguments: [program] + arguments, descriptors: [.open("/dev/null", flags: O_RDONLY), .copy(fd), .copy(fd)])
        else {
            return (-1, "cannot start \(program)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: Posix.readFile(path, limit: 1 << 16) ?? [], as: UTF8.self)
        return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : -1, text)
    }
}
