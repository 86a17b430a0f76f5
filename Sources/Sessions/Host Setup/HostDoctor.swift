import SessionWire
import SSHClient

/// `pss doctor`: what is right and wrong with a host for pss, found by connecting as pss would and asking the host,
/// changing nothing there. Each check says ok, warn or fail, and how to fix what is wrong.
public struct HostDoctor {
    public struct Check: Equatable {
        public enum Status: String { case ok, warn, fail }

        public var name: String
        public var status: Status
        public var detail: String
        public var fix: String?

        init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil) {
            self.name = name
            self.status = status
            self.detail = detail
            self.fix = fix
        }
    }

    let client: SessionClient

    public init(client: SessionClient) {
        self.client = client
    }

    public func examine(_ host: String) -> [Check] {
        var checks: [Check] = []
        let report = ConnectionReport()
        let connection: SSHConnection
        do {
            connection = try client.connector.connect(try HostSpec(parsing: host), report: report)
        } catch {
            return checks + connectionChecks(report, failure: error)
        }
        checks += connectionChecks(report, failure: nil)
        let helper: HelperBinary
        do {
            helper = try client.helperBinary()
        } catch {
            return checks + [Check("helper", .fail, "\(error)", fix: "install pss-host beside pss (scripts/install)")]
        }
        let facts: [String: String]
        do {
            facts = try HelperInstaller(connection: connection, helper: helper, state: client.state, logger: client.connector.logger)
                .run(HostScripts.doctor(helper))
        } catch {
            return checks + [Check("host", .fail, "the checks could not run on the host: \(error)")]
        }
        return checks + hostChecks(facts, helper: helper, server: report.banner ?? "")
    }

    /// Address, server, host key, authentication: as far as the connection got, and why it stopped.
    private func connectionChecks(_ report: ConnectionReport, failure: Error?) -> [Check] {
        var checks: [Check] = []
        let message = failure.map { "\($0)".split(separator: "\n").joined(separator: "; ").escapingControlCharacters(keepingNewlines: false) } ?? ""
        guard let reached = report.reached else {
            return [
                Check(
                    "address", .fail, message, fix: "check the host name and port (pss -G HOST shows what pss uses), and that sshd runs there and is reachable")
            ]
        }
        checks.append(Check("address", .ok, "\(reached) reached"))
        guard let banner = report.banner else {
            return checks + [Check("server", .fail, message, fix: "see the message; pss -v shows the negotiation")]
        }
        checks.append(Check("server", .ok, "\(banner.sanitizedForDisplay) (\(report.algorithms ?? ""))"))
        guard let trust = report.hostKeyTrust, let key = report.hostKey else {
            let fix: String
            switch failure {
            case let error as SSHError:
                switch error {
                case let .hostKeyChanged(host, _, _, _, file, _, _):
                    fix =
                        "if the host was really reinstalled, check the new key with its admin, then: ssh-keygen -f \(ShellQuoting.quote(file)) -R \(ShellQuoting.quote(host))"
                case .hostKeyRevoked: fix = "the key is revoked: ask the host's admin"
                default:
                    fix =
                        "check the fingerprint with the host's admin, then connect once with -o StrictHostKeyChecking=accept-new (or add the key to known_hosts)"
                }
            default: fix = "see the message"
            }
            return checks + [Check("host key", .fail, message.isEmpty ? "not verified" : message, fix: fix)]
        }
        // A key taken on first contact, not checked against anything, is only as good as that first contact.
        let known = trust.hasPrefix("matches")
        checks.append(
            Check(
                "host key", known ? .ok : .warn, "\(key.algorithm.displayName) \(key.fingerprint) \(trust)",
                fix: known ? nil : "compare the fingerprint with the host's own (ssh-keygen -lf on its /etc/ssh/ssh_host_*_key.pub)"))
        guard let method = report.authentication else {
            var fix = "pss -v shows each key tried"
            if case let .authenticationFailed(user, _, _, hints)? = failure as? SSHError, hints.isEmpty {
                fix = "put your public key in \(user)'s ~/.ssh/authorized_keys on the host (ssh-copy-id), or name a key with -i; " + fix
            }
            return checks + [Check("authentication", .fail, message, fix: fix)]
        }
        checks.append(Check("authentication", .ok, method))
        return checks
    }

    /// Platform, host directory, helper, daemon, logout, keepalive, from the host's facts.
    private func hostChecks(_ facts: [String: String], helper: HelperBinary, server: String) -> [Check] {
        var checks: [Check] = []
        let arch = facts["arch"] ?? "?", libc = HelperBinary.describeLibc(facts["libc"])
        if let problem = HelperBinary.platformProblem(arch: arch) {
            checks.append(Check("platform", .fail, "\(libc); \(problem)", fix: "install a helper built for \(arch) beside pss"))
        } else {
            checks.append(Check("platform", .ok, "\(arch), \(libc); the static \(HelperBinary.architecture) helper fits"))
        }

        let directory = facts["dir"] ?? "?"
        let mount = facts["mount"] ?? "?"
        let free = facts["free"].flatMap { Int($0) }
        // The mount's options: between the last parentheses of "MOUNTPOINT (OPTIONS)".
        let options =
            mount.hasSuffix(")")
            ? Set(
                mount[mount.index(after: mount.lastIndex(of: "(") ?? mount.startIndex)...]
                    .dropLast().split(separator: ",").map(String.init)) : []
        if let error = facts["dir_error"] {
            checks.append(Check("host directory", .fail, error, fix: "an absolute path: " + HostScripts.settingHostDirectory))
        } else if let trust = facts["trust"], trust != "ok" {
            checks.append(
                Check("host directory", .fail, "\(directory): \(trust)", fix: "a directory only you and root can write: " + HostScripts.settingHostDirectory))
        } else if options.contains("noexec") {
            checks.append(Check("host directory", .fail, "\(directory) is on a noexec mount, \(mount)", fix: HostScripts.mountAdvice))
        } else if options.contains("ro") {
            checks.append(Check("host directory", .fail, "\(directory) is on a read-only mount, \(mount)", fix: HostScripts.mountAdvice))
        } else if let free, free < helper.spaceNeededKiB {
            checks.append(
                Check(
                    "host directory", facts["helper"] == "installed" ? .warn : .fail, "\(directory): \(free) KiB free on \(mount)",
                    fix: "free space there, or use another directory: " + HostScripts.settingHostDirectory))
        } else {
            let exists = facts["dir_exists"] == "1"
            let owner = facts["dir_owner"].map { ", owner and mode \($0)" } ?? ""
            checks.append(
                Check(
                    "host directory", .ok,
                    "\(directory)\(exists ? owner : " (not made yet)"), \(free.map { "\($0 / 1024) MiB free" } ?? "free space unknown") on \(mount)"))
        }

        let others = Int(facts["other_helpers"] ?? "") ?? 0
        if facts["helper"] == "installed" {
            checks.append(Check("helper", .ok, "\(helper.installedName) installed\(others > 1 ? " (\(others - 1) other builds beside it)" : "")"))
        } else {
            checks.append(
                Check(
                    "helper", .warn, "\(helper.installedName) is not installed yet",
                    fix: "nothing to do: the first command uploads it (\(helper.size / 1_000_000) MB)"))
        }

        switch facts["daemon"] {
        case "running"?:
            let sessions = facts["sessions"] ?? "?", broken = Int(facts["broken"] ?? "") ?? 0
            let running = facts["daemon_helper"].map { ", running \($0)" } ?? ""
            checks.append(
                Check(
                    "daemon", broken > 0 ? .warn : .ok,
                    "running (protocol \(facts["daemon_protocol"] ?? "?")\(running)), \(sessions) sessions\(broken > 0 ? ", \(broken) Broken" : "")",
                    fix: broken > 0 ? "receive what Broken sessions kept, then remove them (pss get --host HOST shows them)" : nil))
        case "stopped"?:
            checks.append(Check("daemon", .ok, "not running (the next command starts it)"))
        case let other?:
            checks.append(Check("daemon", .warn, "\(other)", fix: "its log is run/daemon.log in the host directory"))
        case nil:
            checks.append(Check("daemon", .ok, "not asked (this client's helper is not installed, or the host directory is not trusted)"))
        }

        if let logout = facts["logout"], logout != "ok" {
            checks.append(Check("logout", .warn, logout, fix: "run, as root or as allowed by polkit: loginctl enable-linger \(facts["user"] ?? "USER")"))
        } else {
            checks.append(Check("logout", .ok, "sessions survive logout (no KillUserProcesses, or lingering)"))
        }

        let config = facts["sshd_config"] ?? "sshd_config"
        if server.lowercased().contains("dropbear") {
            checks.append(
                Check(
                    "keepalive", .ok, "dropbear: its -K option sets its keepalives, which cannot be read from here (pss's own find a dead link from this side)")
            )
        } else if let interval = facts["clientalive"].flatMap({ Int($0) }) {
            if interval > 0 {
                checks.append(Check("keepalive", .ok, "ClientAliveInterval \(interval) (\(config))"))
            } else {
                checks.append(
                    Check(
                        "keepalive", .warn, "ClientAliveInterval 0 (\(config)): sshd does not notice a client that vanishes, and its session stays held",
                        fix: "set ClientAliveInterval 15 in \(config)"))
            }
        } else {
            checks.append(
                Check(
                    "keepalive", .ok,
                    "ClientAliveInterval not readable here (sshd -T needs root; \(config)); pss's own keepalives find a dead link from this side"))
        }
        return checks
    }
}
