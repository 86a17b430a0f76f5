import Glibc
import SessionWire

/// The way into a configuration's sessions, run by the system-wide helper (root's, in /usr/local/lib/pss):
///
///     pss-host session NAME   what the client runs: checks that the configuration exists and lets this user in,
///                             then relays to the configuration's daemon, or, for runAs, becomes the runAs user
///                             through sudo (`runas NAME`, the only command the sudoers drop-in allows)
///     pss-host runas NAME     the same, as the runAs user under sudo: the real user is the one sudo names
///
/// Each configuration has its own daemon, in `configurations/NAME/` under the host directory of the user its
/// sessions run as, so that nothing of the user's own sessions mixes with them. A refusal is spoken as the daemon
/// would speak it (a `denied` answer to the client's hello), so that the client reports it as a refusal (254).
public enum ConfigurationGate {
    public static func run(_ name: String, underSudo: Bool) -> Int32 {
        let registry = ConfigurationRegistry()
        let configuration: SessionConfiguration
        do {
            configuration = try load(name, registry: registry)
        } catch {
            return refuse(error.description)
        }
        // One account, one configuration (register refuses a second; a file written by hand is refused here).
        if let runAs = configuration.runAs, let other = registry.configuration(otherThan: name, runningAs: runAs) {
            return refuse("configuration \(name): its runAs \(runAs) also serves configuration \(other); an administrator gives each its own account")
        }
        let caller = Posix.userName
        if let runAs = configuration.runAs, !underSudo, AccountDatabase.user(named: runAs)?.uid != getuid() {
            guard isAllowed(caller, in: configuration) else { return refuse(notAllowed(caller, name)) }
            return becomeRunAs(runAs, name: name, helper: registry.helperPath)
        }
        let user: String
        do { user = try realUser(configuration, underSudo: underSudo) } catch { return refuse(error.description) }
        guard isAllowed(user, in: configuration) || user == caller && configuration.runAs == caller else {
            return refuse(notAllowed(user, name))
        }
        // The daemon this may start takes its account from the password database, not from the environment sudo
        // or the login left (a HOME kept by sudo would be the first caller's).
        guard let account = AccountDatabase.current else { return refuse("configuration \(name): this account is not in the password database") }
        for (variable, value) in [("HOME", account.home), ("USER", account.name), ("LOGNAME", account.name), ("SHELL", account.shell)] {
            setenv(variable, value, 1)
        }
        // A daemon every allowed user shares starts from nobody's groups or limits (asked when none runs: a
        // relay to a running one passes on nothing of its caller).
        if configuration.runAs != nil, access(paths(for: configuration).socket, F_OK) != 0,
            let problem = CleanStart.problem(runAs: account, configuration: name)
        {
            return refuse(problem)
        }
        do {
            return try Relay.run(
                paths: paths(for: configuration), helperPath: registry.helperPath,
                daemonArguments: ["daemon", "--configuration", name],
                daemonEnvironment: configuration.runAs != nil ? CleanStart.environment(for: account) : nil,
                user: user)
        } catch {
            return refuse("\(error)")
        }
    }

    /// `pss-host locked NAME`: what sshd runs, whatever was asked, for a user the configuration locks (`lockUsers`,
    /// its ForceCommand). Only pss's own request is answered, and as a way into NAME alone: the script pss sends on
    /// stdin (one line) is read and dropped, never given to a shell. Anything else (a shell, `ssh host cmd`, scp) is
    /// told no.
    public static func runLocked(_ name: String) -> Int32 {
        guard Posix.environment("SSH_ORIGINAL_COMMAND") == "sh -s" else {
            let message = "pss-host: this account may use only pss on this host, in the session configuration \(name)\n"
            _ = Array(message.utf8).withUnsafeBytes { Posix.writeAll(STDERR_FILENO, $0) }
            return 1
        }
        var byte: UInt8 = 0
        var skipped = 0
        while skipped < 1 << 20, read(STDIN_FILENO, &byte, 1) == 1, byte != 0x0A { skipped += 1 }
        return run(name, underSudo: false)
    }

    /// The configuration as sessions use it: registered (or written by hand) under /etc/pss, root's, valid.
    public static func load(
        _ name: String, registry: ConfigurationRegistry = ConfigurationRegistry()
    ) throws(ConfigurationRegistry.Refusal) -> SessionConfiguration {
        let entry = registry.load(name)
        if let problem = entry.problem { throw ConfigurationRegistry.Refusal(description: "configuration \(name): \(problem)") }
        do {
            return try SessionConfiguration(name: name, parsing: entry.text, accounts: SystemAccounts())
        } catch {
            throw ConfigurationRegistry.Refusal(description: "configuration \(name): \(error)")
        }
    }

    /// Where a configuration's daemon keeps its sessions: below the host directory of the user they run as (for
    /// runAs, that user's home from the password database: sudo's environment is not the user's).
    public static func paths(for configuration: SessionConfiguration) -> HostPaths {
        let base: String
        if configuration.runAs != nil, let account = AccountDatabase.current {
            base = account.home + "/.local/state/pss-host"
        } else {
            base = HostPaths().base
        }
        return HostPaths(base: base + "/configurations/" + configuration.name)
    }

    static func notAllowed(_ user: String, _ name: String) -> String {
        "configuration \(name) does not allow user \(user)"
    }

    /// Who is acting: under sudo, the user sudo names (sudo sets SUDO_USER and SUDO_UID itself, whatever the
    /// caller's environment held; only the runAs user could run this command without sudo, and it acts as itself
    /// then). Otherwise this process's user.
    static func realUser(_ configuration: SessionConfiguration, underSudo: Bool) throws(ConfigurationRegistry.Refusal) -> String {
        guard underSudo else { return Posix.userName }
        guard let runAs = configuration.runAs, AccountDatabase.user(named: runAs)?.uid == getuid() else {
            throw ConfigurationRegistry.Refusal(description: "configuration \(configuration.name): runas is run by sudo, as the configuration's runAs user")
        }
        guard let name = Posix.environment("SUDO_USER"), let uid = Posix.environment("SUDO_UID").flatMap({ uid_t($0) }) else {
            return Posix.userName
        }
        guard AccountDatabase.user(id: uid)?.name == name else {
            throw ConfigurationRegistry.Refusal(description: "configuration \(configuration.name): sudo's SUDO_USER and SUDO_UID do not agree")
        }
        return name
    }

    /// The names of the groups `user` is in (primary and supplementary), as sudo's %group matches them.
    static func groups(of user: String) -> [String] {
        AccountDatabase.user(named: user).map { AccountDatabase.groups(of: $0).map(\.name) } ?? []
    }

    /// Whether `configuration` lets `user` in now: by name, or by a group the files give (no child process), or by
    /// a group another source (LDAP, SSSD) gives. Asked before every request, so it costs nothing in the usual case.
    static func isAllowed(_ user: String, in configuration: SessionConfiguration) -> Bool {
        if configuration.allows(user: user, groups: []) { return true }
        guard let account = AccountDatabase.user(named: user) else { return false }
        if configuration.allows(user: user, groups: AccountDatabase.groups(of: account, filesOnly: true).map(\.name)) { return true }
        return configuration.allows(user: user, groups: AccountDatabase.groups(of: account).map(\.name))
    }

    /// Runs this helper again as the runAs user, through sudo, which never prompts (-n): the drop-in lets the
    /// allowed users run exactly `pss-host runas NAME` as that user without a password.
    static func becomeRunAs(_ runAs: String, name: String, helper: String) -> Int32 {
        let candidates: [String] = ["/usr/bin/sudo", "/bin/sudo"]
        guard let sudo = candidates.first(where: { access($0, X_OK) == 0 }) else {
            return refuse("configuration \(name) runs as \(runAs), and this host has no sudo")
        }
        let arguments = [sudo, "-n", "-u", runAs, "--", helper, "runas", name]
        var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv(sudo, &pointers)
        return refuse("cannot run sudo: \(String(cString: strerror(errno)))")
    }

    /// Says no the way the daemon would: the ready line, then a `denied` answer to the client's hello.
    static func refuse(_ message: String) -> Int32 {
        let ready = Array(Relay.readyLine.utf8)
        guard ready.withUnsafeBytes({ Posix.writeAll(STDOUT_FILENO, $0) }) else { return 70 }
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while (try? decoder.nextFrame() == nil) ?? false {
            let count = read(STDIN_FILENO, &buffer, buffer.count)
            guard count > 0 else { return 0 }
            decoder.append(buffer[0..<count])
        }
        let frame = HostMessage.failure(.denied, message).encoded()
        _ = frame.withUnsafeBytes { Posix.writeAll(STDOUT_FILENO, $0) }
        return 0
    }
}
