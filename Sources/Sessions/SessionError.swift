import SessionWire

/// Why a session operation failed, in the terms of DESIGN.md's exit statuses.
public enum SessionError: Error, CustomStringConvertible {
    /// The host's session layer said no (no such session, busy, duplicate name, ...): exit 254.
    case refused(HostMessage.Failure, String)
    /// The host cannot run the helper (architecture, glibc, directory): exit 255.
    case hostUnsupported(String)
    /// The helper or daemon did not answer as expected.
    case helper(String)
    /// Something on this machine.
    case local(String)
    /// Bad input found before connecting: exit 64.
    case usage(String)
    /// The connection was lost during a command and could not be made again in time: exit 255. The command runs
    /// on in its session, Disconnected.
    case gaveUp(host: String, session: SessionRecord, job: JobRecord, reason: String, after: Double)
    /// The user left a running command (a second Ctrl-C, SIGTERM, SIGHUP): it runs on in its session,
    /// Disconnected; pss exits as if `signal` had killed it.
    case detached(host: String, session: SessionRecord, job: JobRecord, signal: Int32)
    /// A fan-out's Ctrl-C came before this target's command started: it was not started.
    case notStarted(signal: Int32)

    public var description: String {
        switch self {
        case let .refused(_, message), let .hostUnsupported(message), let .helper(message), let .local(message),
            let .usage(message):
            return message
        case let .gaveUp(host, session, job, reason, after):
            return "\(reason); gave up reconnecting after \(Int(after)) s. The command (job \(job.id)) runs on in session "
                + "\(host)/\(session.name), now Disconnected; collect its output with: pss receive \(host)/\(session.name)"
        case .notStarted:
            return "not started: pss was interrupted"
        case let .detached(host, session, job, _):
            return "detached; the command (job \(job.id)) runs on in session \(host)/\(session.name), now Disconnected"
                + "\(session.temporary ? " (kept until received)" : ""); collect its output with: pss receive \(host)/\(session.name)"
                + "; stop it with: pss job stop \(job.id) --session \(host)/\(session.name)"
        }
    }
}
