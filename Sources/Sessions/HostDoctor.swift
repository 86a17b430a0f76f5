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
            helper = try HelperBinary.locate(state: client.state)
        } catch {
            return checks + [Check("helper", .fail, "\(error)", fix: "install pss-host beside pss (scripts/install)")]
        }
        let facts: [String: String]
        do {
            facts = try HelperInstaller(connection: connection, helper: helper, logger: client.connector.logger)
                .run(HostScripts.doctor(helper))
        } catch {
            return checks + [Check("host", .fail, "the checks could not run on the host: \(error)")]
        }
        return checks + hostChecks(facts, helper: helper)
    }

    /// Address, server, host key, authentication: as far as the connection got, and why it stopped.
    private func connectionChecks(_ report: ConnectionReport, failure: Error?) -> [Check] {
        var checks: [Check] = []
        let message = failure.map { "\($0)".escapingControlCharacters(keepingNewlines: false) } ?? ""
        guard let reached = report.reached else {
            return [Check("address", .fail, message, fix: "check the host name and port (pss -G HOST shows what pss uses), and that sshd runs there and is reachable")]
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
                    fix = "if the host was really reinstalled, check the new key with its admin, then: ssh-keygen -f '\(file)' -R '\(host)'"
                case .hostKeyRevoked: fix = "the key is revoked: ask the host's admin"
                default: fix = "check the fingerprint with the host's admin, then connect once with -o StrictHostKeyChecking=accept-new (or add the key to known_hosts)"
                }
            default: fix = "see the message"
            }
            return checks + [Check("host key", .fail, message.isEmpty ? "not verified" : message, fix: fix)]
        }
        checks.append(Check("host key", .ok, "\(key.algorithm.displayName) \(key.fingerprint) \(trust)"))
        guard let method = report.authentication else {
            return checks + [Check("authentication", .fail, message, fix: "see the hints; pss -v shows each key tried")]
        }
        checks.append(Check("authentication", .ok, method))
        return checks
    }

    /// Platform, host directory, helper, daemon, logout, keepalive, from the host's facts.
    private func hostChecks(_ facts: [String: String], helper: HelperBinary) -> [Check] {
        var checks: [Check] = []
        let arch = facts["arch"] ?? "?"
        let glibc = (facts["glibc"] ?? "").split(separator: " ").last.map(String.init) ?? ""
        let version = glibc.split(separator: ".").compactMap { Int($0) }
        let needed = "\(HelperBinary.minimumGlibc.0).\(HelperBinary.minimumGlibc.1)"
        if arch != HelperBinary.architecture {
            checks.append(Check("platform", .fail, "\(arch); this pss carries a \(HelperBinary.architecture) helper", fix: "use a pss built for \(arch)"))
        } else if version.count < 2 || (version[0], version[1]) < HelperBinary.minimumGlibc {
            checks.append(Check("platform", .fail, "\(arch), \(glibc.isEmpty ? "no glibc" : "glibc \(glibc)")", fix: "the helper needs glibc \(needed) or later"))
        } else {
            checks.append(Check("platform", .ok, "\(arch), glibc \(glibc)"))
        }

        let directory = facts["dir"] ?? "?"
        let mount = facts["mount"] ?? "?"
        let free = facts["free"].flatMap { Int($0) }
        let mountAdvice = "set PSS_HOST_DIR for your account on the host to a directory you own on a mount where files may be written and programs may run (sshd's SetEnv, or ~/.ssh/environment with PermitUserEnvironment yes)"
        if let error = facts["dir_error"] {
            checks.append(Check("host directory", .fail, error, fix: "set PSS_HOST_DIR (or XDG_STATE_HOME) on the host to an absolute path"))
        } else if let trust = facts["trust"], trust != "ok" {
            checks.append(Check("host directory", .fail, "\(directory): \(trust)", fix: "set PSS_HOST_DIR on the host to a directory only you and root can write"))
        } else if mount.contains("noexec") {
            checks.append(Check("host directory", .fail, "\(directory) is on a noexec mount, \(mount)", fix: mountAdvice))
        } else if mount.contains("(ro,") || mount.hasSuffix("(ro)") {
            checks.append(Check("host directory", .fail, "\(directory) is on a read-only mount, \(mount)", fix: mountAdvice))
        } else if let free, free < helper.size / 1024 + 1024 {
            checks.append(Check("host directory", facts["helper"] == "installed" ? .warn : .fail, "\(directory): \(free) KiB free on \(mount)",
                                fix: "free space there, or set PSS_HOST_DIR to another directory"))
        } else {
            let exists = facts["dir_exists"] == "1"
            let owner = facts["dir_owner"].map { ", owner and mode \($0)" } ?? ""
            checks.append(Check("host directory", .ok, "\(directory)\(exists ? owner : " (not made yet)"), \(free.map { "\($0 / 1024) MiB free" } ?? "free space unknown") on \(mount)"))
        }

        let others = Int(facts["other_helpers"] ?? "") ?? 0
        if facts["helper"] == "installed" {
            checks.append(Check("helper", .ok, "\(helper.installedName) installed\(others > 1 ? " (\(others - 1) other builds beside it)" : "")"))
        } else {
            checks.append(Check("helper", .warn, "\(helper.installedName) is not installed yet", fix: "nothing to do: the first command uploads it (\(helper.size / 1_000_000) MB)"))
        }

        switch facts["daemon"] {
        case "running"?:
            let sessions = facts["sessions"] ?? "?", broken = Int(facts["broken"] ?? "") ?? 0
            let running = facts["daemon_helper"].map { ", running \($0)" } ?? ""
            checks.append(Check("daemon", broken > 0 ? .warn : .ok, "running (protocol \(facts["daemon_protocol"] ?? "?")\(running)), \(sessions) sessions\(broken > 0 ? ", \(broken) Broken" : "")",
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
        if let interval = facts["clientalive"].flatMap({ Int($0) }) {
            if interval > 0 {
                checks.append(Check("keepalive", .ok, "ClientAliveInterval \(interval) (\(config))"))
            } else {
                checks.append(Check("keepalive", .warn, "ClientAliveInterval 0 (\(config)): sshd does not notice a client that vanishes, and its session stays held",
                                    fix: "set ClientAliveInterval 15 in \(config)"))
            }
        } else {
            checks.append(Check("keepalive", .warn, "ClientAliveInterval could not be read (\(config))",
                                fix: "make sure the server sets ClientAliveInterval (15 is a good value)"))
        }
        return checks
    }
}
