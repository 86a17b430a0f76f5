import Glibc
import SessionWire

/// What clients ask of the daemon: sessions (new, list, remove, disconnect, connect), commands (invoke, receive,
/// acknowledge) and jobs (list, stop, remove). Every answer is a frame on the asking link; a refusal is a
/// `failure` naming the reason.
extension HostDaemon {
    func handle(_ message: ClientMessage, from link: ClientLink) {
        if link.clientID == nil {
            guard case let .hello(version, clientID) = message else {
                return refuse(link, .invalidRequest, "expected hello")
            }
            guard version == WireProtocol.version else {
                link.send(.failure(.versionMismatch, "helper speaks protocol \(WireProtocol.version), client \(version)"))
                link.flushBeforeClose()
                link.isClosed = true
                return
            }
            if let problem = refreshConfiguration(for: link.user) {
                link.send(.failure(.denied, problem))
                link.flushBeforeClose()
                link.isClosed = true
                return
            }
            link.clientID = clientID
            link.send(.hello(version: WireProtocol.version, helper: helperIdentity))
            return
        }
        do {
            try handleRequest(message, from: link)
        } catch let failure as RequestFailure {
            refuse(link, failure.kind, failure.message)
        } catch {
            refuse(link, .hostFailure, "\(error)")
        }
    }

    func handleRequest(_ message: ClientMessage, from link: ClientLink) throws {
        let client = link.clientID!
        if let problem = refreshConfiguration(for: link.user, onlyIfChanged: true) {
            link.send(.failure(.denied, problem))
            link.flushBeforeClose()
            link.isClosed = true
            return
        }
        switch message {
        case .hello:
            throw RequestFailure(kind: .invalidRequest, message: "hello sent twice")
        case let .newSession(name, idle, buffering, maxBuffer, loadsProfile):
            let session = try createSession(
                name: name, idleTimeout: idle, buffering: buffering, maxBuffer: maxBuffer,
                heldBy: client, temporary: false, loadsProfile: loadsProfile, owner: link.user)
            link.send(.session(session.snapshot))
        case .listSessions:
            let records = sessions.values.map(\.snapshot).sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) }
            HostMessage.pages(of: records).forEach(link.send)
        case let .invoke(invocation):
            try invoke(invocation, link: link)
        case let .stdin(bytes):
            if let run = link.attached, run.link === link, run.stdinPipe >= 0, !run.stdinEnded {
                run.forwardStdin(bytes)
            }
        case let .enter(reference, force, size, term, keys):
            try enter(reference, force: force, size: size, term: term, keys: keys, link: link)
        case let .terminalInput(offset, bytes):
            typeIn(bytes, at: offset, from: link)
        case let .resize(size):
            resize(size, from: link)
        case .leave:
            if let session = link.entered, session.enteredLink === link { leave(session, telling: nil) }
        case .registerConfiguration where configuration != nil, .unregisterConfiguration where configuration != nil:
            // A configuration's daemon runs as its runAs user (root, for some) on behalf of others: only the user's
            // own daemon, reached by logging in as root, changes configurations.
            throw RequestFailure(kind: .denied, message: "configurations are registered by logging in as root, not through a configuration")
        case let .registerConfiguration(name, text):
            do { link.send(.configured(try ConfigurationRegistry().register(name: name, text: text))) } catch {
                throw RequestFailure(kind: .denied, message: "\(error)")
            }
        case let .unregisterConfiguration(name):
            do { link.send(.configured(try ConfigurationRegistry().unregister(name: name))) } catch {
                throw RequestFailure(kind: .denied, message: "\(error)")
            }
        case .listConfigurations:
            let registry = ConfigurationRegistry()
            let groups = ConfigurationGate.groups(of: link.user)
            let entries = registry.list().map { entry in
                // As the way in checks it (ConfigurationGate.run): allowed, or the runAs user itself.
                let configuration = try? ConfigurationGate.load(entry.name, registry: registry)
                let allows = configuration.map { $0.allows(user: link.user, groups: groups) || $0.runAs == link.user } ?? false
                // Without runAs its sessions are in this user's own host directory, where this daemon can look.
                let empty = configuration.map { $0.runAs == nil && Posix.directoryEntries(ConfigurationGate.paths(for: $0).sessions).isEmpty } ?? false
                return ConfigurationEntry(
                    name: entry.name, text: entry.text, problem: entry.problem ?? "", allowsCaller: allows, mayHaveSessions: !empty)
            }
            HostMessage.pages(of: entries).forEach(link.send)
        case .release:
            let bound =
                link.attached != nil || link.entered != nil
                || sessions.values.contains { session in
                    session.waiting.contains { $0.link === link } || session.runs.contains { $0.stoppers.contains { $0 === link } }
                }
            guard !bound else {
                throw RequestFailure(kind: .busy, message: "the link is still in use")
            }
            link.send(.released)
        case .interrupt:
            if let run = link.attached, run.link === link, run.isRunning { interrupt(run) }
        case .stdinEnd:
            if let run = link.attached, run.link === link { run.endStdin() }
        case let .removeSession(reference):
            remove(try find(reference))
            link.send(.removed(count: 1))
        case .removeAllSessions:
            let all = Array(sessions.values)
            all.forEach(remove)
            link.send(.removed(count: UInt32(all.count)))
        case let .receive(reference, job, from, follow, take):
            let session = try find(reference, holdingJob: job, for: link.user)
            try checkNotHeldByAnother(session, client)
            if take && session.record.state == .disconnected { hold(session, for: client) }
            guard let run = session.findRun(job) else {
                throw RequestFailure(
                    kind: .noSuchSession,
                    message: job.isEmpty
                        ? "session '\(session.record.name)' has no command to receive"
                        : "no job '\(job)' in session '\(session.record.name)'")
            }
            detach(run, telling: "another pss is receiving this command's output now")
            // Acknowledged output was received (and may be freed): a receiver starts at it at the earliest.
            for spool in run.outputs { spool.sent = min(max(from?[spool.stream] ?? spool.acked, spool.acked), spool.written) }
            run.link = link
            run.follow = follow
            run.sendsOutput = from != .end
            run.reportedWriteFailure = false  // a new receiver hears of a full disk too
            link.attached = run
            link.send(
                .started(
                    session.snapshot, run.record(in: session.record),
                    from: StreamOffsets(stdout: run.outputs[0].sent, stderr: run.outputs[1].sent)))
        case let .ack(reference, job, received, complete):
            let session = try find(reference)
            guard let run = session.findRun(job) else { return }
            for spool in run.outputs { spool.acked = max(spool.acked, min(received[spool.stream], spool.written)) }
            if complete && !run.isRunning && !run.isJob {
                run.delivered = true
                if session.record.temporary { return remove(session) }
            }
            // A job's end received: it no longer holds its session past the idle timeout.
            if complete && !run.isRunning && run.isJob && !run.received {
                run.received = true
                session.idleSince = Posix.now
            }
            // A daemon started after a crash starts receivers at the saved mark, or at the first byte not freed
            // since (perhaps sending again a few MiB that had come).
            if complete || run.acknowledgementsWorthSaving { run.save() }
            for spool in run.outputs { spool.releaseAcknowledged(beforeFreeing: sparingLinks(spool)) }
        case let .disconnect(reference, idle, buffering):
            let session = try find(reference)
            try checkNotHeldByAnother(session, client)
            guard session.record.state != .broken else { throw brokenFailure(session) }
            if idle > 0 {
                guard idle >= SessionRecord.minimumIdleTimeout else {
                    throw RequestFailure(kind: .invalidRequest, message: "the idle timeout must be at least \(SessionRecord.minimumIdleTimeout) seconds")
                }
                session.record.idleTimeoutSeconds = boundedIdleTimeout(idle)
            }
            if let mode = SessionRecord.OutputBuffering(rawValue: buffering) { session.record.outputBuffering = mode }
            for run in session.runs { detach(run, telling: "session '\(session.record.name)' was disconnected") }
            for waiting in session.waiting {
                waiting.link.send(.failure(.denied, "session '\(session.record.name)' was disconnected"))
            }
            session.waiting = []
            session.record.state = .disconnected
            session.idleSince = Posix.now
            try store.save(session.record)
            link.send(.session(session.snapshot))
        case let .connect(reference, force):
            let session = try find(reference)
            guard session.record.state != .broken else { throw brokenFailure(session) }
            if !force { try checkNotHeldByAnother(session, client) }
            for run in session.runs where run.link.map({ $0.clientID != client }) ?? false {
                detach(run, telling: "session '\(session.record.name)' was taken over by another client (connect --force)")
            }
            hold(session, for: client)
            link.send(.session(session.snapshot))
        case let .listJobs(reference):
            let chosen = reference.isEmpty ? sessions.values.sorted { $0.record.createdAt < $1.record.createdAt } : [try find(reference)]
            HostMessage.pages(of: chosen.flatMap { session in session.runs.map { $0.record(in: session.record) } }).forEach(link.send)
        case let .stopJob(reference, job):
            let (session, run) = try findRun(reference, job, for: client, user: link.user)
            guard run.isRunning else { return link.send(.job(run.record(in: session.record))) }
            run.stopped = true
            run.stoppers.append(link)
            terminate(run, SIGTERM)
        case let .removeJob(reference, job):
            let (session, run) = try findRun(reference, job, for: client, user: link.user)
            guard !run.isRunning else {
                throw RequestFailure(kind: .busy, message: "job '\(run.name)' is still running; stop it first (pss job stop)")
            }
            detach(run, telling: nil)
            session.forget(run)
            link.send(.removed(count: 1))
        }
    }

    func refuse(_ link: ClientLink, _ kind: HostMessage.Failure, _ message: String) {
        link.send(.failure(kind, message))
    }

    /// A configuration's daemon reads its file again for each link, and whenever it changed (a `stat` before each
    /// request), so that a change reaches sessions and links that live on; and it asks whether `user` is still
    /// allowed before every request, so that access taken away (a user out of a group, out of allowUsers) is refused
    /// at the next command, through links handed out long before. Sessions whose restricted flag no longer matches
    /// are closed. Returns why `user` is refused, or nil.
    func refreshConfiguration(for user: String, onlyIfChanged: Bool = false) -> String? {
        guard let name = configuration?.name else { return nil }
        if let problem = reloadConfigurationFile(name, onlyIfChanged: onlyIfChanged) { return problem }
        // The runAs user acts as itself; everyone else, the owner of a daemon without runAs too, is asked.
        guard let current = configuration, current.runAs == user || isAllowedNow(user, in: current) else {
            return ConfigurationGate.notAllowed(user, name)
        }
        return nil
    }

    /// `ConfigurationGate.isAllowed`, remembered while /etc/passwd, /etc/group and the configuration's file are
    /// unchanged, and for at most a second where nsswitch.conf names other sources (LDAP, SSSD): it is asked before
    /// every request, and a keystroke or an acknowledgement must not cost a `getent`.
    func isAllowedNow(_ user: String, in configuration: SessionConfiguration) -> Bool {
        let stamp = Posix.fileStamp(AccountDatabase.directory + "/passwd") + Posix.fileStamp(AccountDatabase.directory + "/group") + configurationStamp
        let now = Posix.milliseconds
        if let known = allowance[user], known.stamp == stamp, !known.expires || now - known.at < 1000 { return known.allowed }
        let allowed = ConfigurationGate.isAllowed(user, in: configuration)
        let expires = AccountDatabase.usesOtherSources("passwd") || AccountDatabase.usesOtherSources("group")
        allowance[user] = (stamp, now, expires, allowed)
        return allowed
    }

    /// Reads the configuration's file again when it changed, and applies what changed. Returns why it cannot be used.
    private func reloadConfigurationFile(_ name: String, onlyIfChanged: Bool) -> String? {
        let stamp = Posix.fileStamp(ConfigurationRegistry().file(for: name))
        if onlyIfChanged && stamp == configurationStamp && !stamp.isEmpty { return nil }
        let current: SessionConfiguration
        do { current = try ConfigurationGate.load(name) } catch { return error.description }
        configurationStamp = stamp
        if current != configuration {
            Self.log("configuration \(name) changed: applying it")
            apply(current)
            for session in Array(sessions.values) where session.record.restricted != (allowedCommands != nil) {
                Self.log("closing session \(session.record.id): made when the configuration was \(session.record.restricted ? "" : "not ")restricted")
                remove(session)
            }
            applyBounds()
        }
        return nil
    }

    struct RequestFailure: Error {
        var kind: HostMessage.Failure
        var message: String
    }

    func find(_ reference: String) throws -> HostedSession {
        if let session = sessions[reference] ?? sessions.values.first(where: { $0.record.name == reference }) { return session }
        if let closed = expired.session(reference) { throw RequestFailure(kind: .noSuchSession, message: closed.description) }
        throw RequestFailure(kind: .noSuchSession, message: "no session '\(reference)' on this host")
    }

    /// The session `reference` names; with none named, the one holding the newest job named `job` (a cron job's
    /// session has a new name each time: `job receive NAME --host H`).
    func find(_ reference: String, holdingJob job: String, for user: String) throws -> HostedSession {
        guard reference.isEmpty, !job.isEmpty else { return try find(reference) }
        // The asking user's own (a configuration's daemon holds every allowed user's sessions).
        let holding = sessions.values.filter { $0.record.owner == user }.compactMap { session in
            session.runs.last { $0.isJob && $0.name == job }.map { (session, $0) }
        }
        if let (session, _) = holding.max(by: { ($0.1.startedAt, $0.1.startOrder) < ($1.1.startedAt, $1.1.startOrder) }) {
            return session
        }
        if let closed = expired.session(holdingJob: job, owner: user) {
            throw RequestFailure(kind: .noSuchSession, message: "no job '\(job)' on this host: its \(closed.description)")
        }
        throw RequestFailure(kind: .noSuchSession, message: "no job '\(job)' on this host")
    }

    func findRun(_ reference: String, _ job: String, for client: String, user: String) throws -> (HostedSession, CommandRun) {
        let session = try find(reference, holdingJob: job, for: user)
        try checkNotHeldByAnother(session, client)
        guard let run = session.findRun(job) else {
            throw RequestFailure(kind: .noSuchSession, message: "no job '\(job)' in session '\(session.record.name)'")
        }
        return (session, run)
    }

    /// An Opened session belongs to the client holding it; Disconnected and Broken ones to nobody.
    func checkNotHeldByAnother(_ session: HostedSession, _ client: String) throws {
        if session.record.state == .opened && session.record.heldBy != client {
            throw RequestFailure(kind: .busy, message: "session '\(session.record.name)' is held by another client; take it over with pss connect --force")
        }
    }

    func brokenFailure(_ session: HostedSession) -> RequestFailure {
        RequestFailure(
            kind: .denied,
            message: "session '\(session.record.name)' is Broken: its shell ended with a previous host daemon; its output is still receivable (pss receive)")
    }

    func hold(_ session: HostedSession, for client: String) {
        session.record.heldBy = client
        session.record.state = .opened
        try? store.save(session.record)
    }

    // MARK: A configuration's bounds, on every path that sets what they bound

    /// A configuration's idleTimeoutSeconds is the longest its sessions may wait; a shorter one asked is kept.
    func boundedIdleTimeout(_ requested: UInt32) -> UInt32 { min(requested, configuration?.idleTimeoutSeconds ?? .max) }

    func boundedMaxBuffer(_ requested: UInt64) -> UInt64 { min(requested, configuration?.maxBufferBytes ?? .max) }

    /// The idle timeout bounds how long anything of a configuration's sessions waits: a job's output too.
    func boundedRetention(_ requested: UInt32) -> UInt32 { min(requested, configuration?.idleTimeoutSeconds ?? .max) }

    /// A file that lowered a bound lowers it for the sessions and jobs made under the old one, at once.
    func applyBounds() {
        for session in sessions.values {
            var record = session.record
            record.idleTimeoutSeconds = boundedIdleTimeout(record.idleTimeoutSeconds)
            record.maxBuffer = boundedMaxBuffer(record.maxBuffer)
            if record != session.record {
                session.record = record
                try? store.save(record)
            }
            for run in session.runs where boundedRetention(run.retentionSeconds) != run.retentionSeconds {
                run.retentionSeconds = boundedRetention(run.retentionSeconds)
                run.save()
            }
        }
    }

    func createSession(
        name requested: String, idleTimeout requestedIdle: UInt32, buffering: SessionRecord.OutputBuffering,
        maxBuffer: UInt64, heldBy: String, temporary: Bool, loadsProfile: Bool = false, owner: String
    ) throws -> HostedSession {
        let name = requested.isEmpty ? nextFreeName(temporary ? "temp" : "session") : requested
        if let problem = SessionName.problem(with: name) { throw RequestFailure(kind: .invalidRequest, message: problem) }
        if let existing = sessions.values.first(where: { $0.record.name == name }) {
            throw RequestFailure(kind: .duplicateName, message: "a session named '\(name)' already exists (\(existing.record.id))")
        }
        guard requestedIdle >= SessionRecord.minimumIdleTimeout else {
            throw RequestFailure(kind: .invalidRequest, message: "the idle timeout must be at least \(SessionRecord.minimumIdleTimeout) seconds")
        }
        let idleTimeout = boundedIdleTimeout(requestedIdle)
        if let configuration, let limit = configuration.maxSessionsPerUser {
            let held = sessions.values.filter { $0.record.owner == owner && $0.record.state != .closed }.count
            if held >= limit {
                throw RequestFailure(
                    kind: .denied,
                    message:
                        "configuration \(configuration.name) allows \(limit) session\(limit == 1 ? "" : "s") per user, and \(owner) has \(held); remove one first"
                )
            }
        }
        let id = try Posix.uuid()
        let directory = paths.session(id)
        do {
            try HostPaths.secureDirectory(directory + "/commands")
            let record = SessionRecord(
                id: id, name: name, owner: owner, heldBy: heldBy, createdAt: Posix.now,
                idleTimeoutSeconds: idleTimeout, outputBuffering: buffering, maxBuffer: boundedMaxBuffer(maxBuffer),
                temporary: temporary, configuration: configuration?.name ?? "",
                runAs: configuration?.runAs ?? "", restricted: allowedCommands != nil)
            try store.save(record)
            let session = HostedSession(record: record, directory: directory)
            session.loadsProfile = loadsProfile
            if allowedCommands == nil { session.shell = try newShell(for: session) }
            sessions[id] = session
            return session
        } catch {
            Posix.removeTree(directory)
            throw RequestFailure(kind: .hostFailure, message: "cannot create the session in \(paths.base): \(error)")
        }
    }

    /// A shell for `session`: at its start, and when a command ended the last one.
    func newShell(for session: HostedSession) throws -> SessionShell {
        try SessionShell(
            environment: shellEnvironment + ["PSS_SESSION_ID=\(session.record.id)", "PSS_SESSION_NAME=\(session.record.name)"],
            loadsProfile: session.loadsProfile, startupScript: configuration?.startupScript)
    }

    func nextFreeName(_ prefix: String) -> String {
        let taken = Set(sessions.values.map(\.record.name))
        var number = 1
        while taken.contains("\(prefix)\(number)") { number += 1 }
        return "\(prefix)\(number)"
    }

    /// The running command holding `lock`, if any (locks are per user: this daemon's sessions).
    func lockHolder(_ lock: String) -> (HostedSession, CommandRun)? {
        guard !lock.isEmpty else { return nil }
        for session in sessions.values { if let run = session.run, run.lock == lock { return (session, run) } }
        return nil
    }

    func lockFailure(_ lock: String) -> RequestFailure? {
        guard let (session, run) = lockHolder(lock) else { return nil }
        return RequestFailure(
            kind: .locked,
            message: "lock '\(lock)' is held by job '\(run.name)' in session '\(session.record.name)', running for \(Posix.now - run.startedAt) s")
    }

    func invoke(_ invocation: ClientMessage.Invocation, link: ClientLink) throws {
        // Names that become part of records and transcripts: as the client checks them, checked again here.
        for (what, name) in [("job name", invocation.jobName), ("lock name", invocation.lock)] where !name.isEmpty {
            if SessionName.problem(with: name) != nil {
                throw RequestFailure(kind: .invalidRequest, message: "a \(what) holds only letters, digits, '-', '_' and '.'")
            }
        }
        guard invocation.command.utf8.count <= CommandText.maximumLength else {
            throw RequestFailure(
                kind: .invalidRequest, message: "the command is \(invocation.command.utf8.count) bytes; at most \(CommandText.maximumLength) are accepted")
        }
        // `start` checks the lock (a waiting command may find it taken); checked here first as well, so that no
        // temporary session is made for a command that cannot start.
        if let failure = lockFailure(invocation.lock) { throw failure }
        if invocation.asJob, let configuration {
            // Charged to whoever started each job (shared sessions hold several users' jobs); a job from before a
            // daemon's restart, whose starter is not known, to its session's owner.
            let kept = sessions.values.reduce(0) { count, session in
                count + session.runs.filter { $0.isJob && ($0.user.isEmpty ? session.record.owner : $0.user) == link.user }.count
            }
            if kept >= configuration.jobsPerUser {
                throw RequestFailure(
                    kind: .denied,
                    message:
                        "configuration \(configuration.name) keeps at most \(configuration.jobsPerUser) job\(configuration.jobsPerUser == 1 ? "" : "s") per user, and \(link.user) has \(kept); remove some first (pss job remove)"
                )
            }
        }
        let session: HostedSession
        if invocation.session.isEmpty {
            session = try createSession(
                name: "", idleTimeout: invocation.idleTimeoutSeconds > 0 ? invocation.idleTimeoutSeconds : SessionRecord.defaultIdleTimeout,
                buffering: .block,
                maxBuffer: SessionRecord.defaultMaxBuffer, heldBy: link.clientID!, temporary: true, owner: link.user)
        } else {
            session = try find(invocation.session)
        }
        switch session.record.state {
        case .broken: throw brokenFailure(session)
        case .closed: throw RequestFailure(kind: .noSuchSession, message: "session '\(session.record.name)' is closed")
        case .disconnected:
            throw RequestFailure(kind: .denied, message: "session '\(session.record.name)' is Disconnected: connect it first (pss connect)")
        case .opened: break
        }
        try checkNotHeldByAnother(session, link.clientID!)
        // A shell still reading the login files is not busy: the command (a job too) starts once it is ready.
        if let shell = session.shell, !shell.isReady {
            let bound = max(Int64(invocation.waitSeconds), HostedSession.startupWaitSeconds)
            session.waiting.append(.init(link: link, invocation: invocation, deadline: Posix.now + bound))
            return
        }
        // A program left running on the session's terminal (started in pss enter) has it: nothing is typed into it.
        let programOnTerminal = session.run == nil && session.enteredLink == nil && !(session.shell?.isAtPrompt ?? true)
        if session.run != nil || !session.waiting.isEmpty || session.enteredLink != nil || programOnTerminal {
            let what =
                session.run.map { "running: \($0.command)" }
                ?? (session.enteredLink != nil
                    ? "entered (pss enter)"
                    : programOnTerminal ? "a program started in pss enter still runs on its terminal (enter to see it)" : "running a command")
            guard invocation.waitSeconds > 0, !invocation.asJob else {
                throw RequestFailure(kind: .busy, message: "session '\(session.record.name)' is busy, \(what)")
            }
            if session.run == nil { link.send(.notice("session '\(session.record.name)' is busy, \(what); waiting up to \(invocation.waitSeconds) s")) }
            session.waiting.append(.init(link: link, invocation: invocation, deadline: Posix.now + Int64(invocation.waitSeconds)))
            return
        }
        start(invocation, in: session, link: link)
    }

    func start(_ invocation: ClientMessage.Invocation, in session: HostedSession, link: ClientLink) {
        if let failure = lockFailure(invocation.lock) { return refuse(link, failure.kind, failure.message) }
        // A session made before its configuration became restricted (or stopped being so) runs nothing more.
        if session.record.restricted != (allowedCommands != nil), let configuration {
            return refuse(
                link, .denied,
                "session '\(session.record.name)' was made when configuration \(configuration.name) \(session.record.restricted ? "was" : "was not") restricted, and it has changed since: remove the session and make a new one"
            )
        }
        var words: [[UInt8]] = []
        if let allowedCommands, let configuration {
            do {
                words = try allowedCommands.check(invocation.command)
            } catch {
                transcribe(session, link.user, "refused (\(error))", invocation.command)
                return refuse(link, .denied, "configuration \(configuration.name) does not allow this command: \(error)")
            }
        }
        // An invoke that waited (--wait) starts only if its user is still allowed.
        if let problem = refreshConfiguration(for: link.user, onlyIfChanged: true) { return refuse(link, .denied, problem) }
        // A configuration that keeps a transcript starts nothing it would not record: the entry is charged to the
        // user's rate here, before anything starts (a bound on the entry's size: the job's name is not known yet).
        if transcript != nil {
            let entry = Transcript.entry(
                session: session.record.name, id: session.record.id, user: link.user, runAs: owner,
                event: "started \(invocation.jobName.isEmpty ? "Job4294967295" : invocation.jobName)", line: invocation.command)
            if let problem = transcriptRateProblem(for: link.user, bytes: entry.utf8.count) { return refuse(link, .busy, problem) }
            _ = transcriptRate.take(entry.utf8.count, for: link.user, now: Posix.milliseconds)
        }
        let shell = session.shell
        guard shell != nil || session.record.restricted else {
            // A cron job's temporary session lets its shell go once the job ends: it is kept only to be collected.
            let why = session.record.temporary ? "it held a job and is kept only until that job is collected (pss job receive)" : "it has no shell"
            return refuse(link, session.record.temporary ? .denied : .hostFailure, "session '\(session.record.name)' runs nothing more: \(why)")
        }
        let number = session.nextCommand
        guard number <= HostedSession.maximumCommandNumber else {
            return refuse(
                link, .invalidRequest, "session '\(session.record.name)' has run \(HostedSession.maximumCommandNumber) commands, its last; start a new one")
        }
        session.nextCommand += 1
        let directory = session.directory + "/commands/\(number)"
        var pipes: [Int32] = []  // closed here if the run that would own them is never made
        var made: CommandRun?
        do {
            try Posix.check(mkdir(directory, 0o700), "mkdir \(directory)")
            try Posix.writeFileAtomically(directory + "/command", Array(invocation.command.utf8))
            let out = try Posix.pipe(), err = try Posix.pipe()
            let input = invocation.forwardStdin && !invocation.asJob ? try Posix.pipe() : nil
            // Larger pipes mean fewer wake-ups on bulk data. Not 1 MiB: pipe capacity counts against the user's
            // pipe-user-pages-soft (64 MiB), past which all of the user's new pipes get only two pages.
            for fd in [out.read] + (input.map { [$0.write] } ?? []) { Posix.setPipeSize(fd, 1 << 18) }
            pipes = [out.read, out.write, err.read, err.write] + (input.map { [$0.read, $0.write] } ?? [])
            let outputs = [
                try OutputSpool(stream: .stdout, path: directory + "/stdout", pipe: out.read),
                try OutputSpool(stream: .stderr, path: directory + "/stderr", pipe: err.read),
            ]
            let run = CommandRun(
                number: number, directory: directory, command: invocation.command,
                name: invocation.jobName.isEmpty ? "Job\(number)" : invocation.jobName,
                isJob: invocation.asJob, lock: invocation.lock, outputs: outputs)
            made = run
            commandsStarted += 1
            run.startOrder = commandsStarted
            if let input { run.stdinPipe = input.write; Posix.setNonBlocking(input.write) }
            run.shellEnds = [out.write, err.write] + (input.map { [$0.read] } ?? [])
            if invocation.timeoutSeconds > 0 { run.deadline = Posix.milliseconds + Int64(invocation.timeoutSeconds) * 1000 }
            let retention = invocation.retentionSeconds > 0 ? invocation.retentionSeconds : JobRecord.defaultRetentionSeconds
            run.retentionSeconds = boundedRetention(retention)
            run.save()
            session.run = run
            session.runs.append(run)
            session.record.command = invocation.command
            if invocation.asJob && session.record.temporary {
                // A cron job's session: nobody holds it, so its result can be collected from any client.
                session.record.state = .disconnected
            }
            try store.save(session.record)
            if !invocation.asJob {
                run.link = link
                link.attached = run
                // Keys typed into an invoked command would reach its terminal unrecorded: under a transcript the
                // command has no one to type (a program reading its terminal gets end of file, and pss says why).
                run.hasTerminal = invocation.terminal && transcript == nil
            }
            link.send(.started(session.snapshot, run.record(in: session.record), from: StreamOffsets()))
            run.user = link.user
            // A configuration that keeps a transcript runs nothing it could not record.
            if let problem = transcribe(session, link.user, "started \(run.name)", invocation.command, counted: false) {
                throw HostError.daemon(problem)
            }
            guard let shell else {
                return try startDirectly(
                    run, words: words, in: session, stdin: input?.read, stdout: out.write, stderr: err.write)
            }
            // The shell reaches the daemon's pipe ends through /proc: they are opened there, then the daemon
            // lets go of its copies (on the "started" notice).
            let line = shell.commandLine(
                number: number, file: directory + "/command",
                stdin: input.map { "/proc/\(selfPID)/fd/\($0.read)" } ?? "/dev/null",
                stdout: "/proc/\(selfPID)/fd/\(out.write)",
                stderr: "/proc/\(selfPID)/fd/\(err.write)",
                subshell: invocation.asJob || invocation.timeoutSeconds > 0,
                echo: run.hasTerminal)
            shell.leaveInteractive()  // a user who entered may have left echo and a prompt on
            if !shell.type(line) { throw HostError.daemon("cannot type into the session's terminal") }
        } catch {
            if let run = made {
                detach(run, telling: nil)
                session.forget(run)
            } else {
                pipes.forEach { close($0) }
                Posix.removeTree(directory)
            }
            session.run = nil
            session.record.command = ""
            refuse(link, .hostFailure, "cannot start the command in \(directory): \(error)")
        }
    }

    /// A restricted configuration's command: exactly its checked words, executed without a shell, in a process
    /// group of its own (so that a stop or Ctrl-C reaches all of it), with the environment built from scratch.
    func startDirectly(_ run: CommandRun, words: [[UInt8]], in session: HostedSession, stdin: Int32?, stdout: Int32, stderr: Int32) throws {
        defer { run.releaseShellEnds() }
        guard let first = words.first, let program = AllowedCommands.program(first) else {
            let message = Array("pss: \(String(decoding: words.first ?? [], as: UTF8.self)): no such program in \(AllowedCommands.searchPath)\n".utf8)
            _ = message.withUnsafeBytes { Posix.writeAll(stderr, $0) }
            run.releaseShellEnds()
            return finish(run, in: session, with: .exited(status: 127, signal: "", shellEnded: false))
        }
        run.pid = try Posix.spawnInNewSession(
            program, arguments: words.map { String(decoding: $0, as: UTF8.self) }, environment: restrictedEnvironment,
            descriptors: [stdin.map { .copy($0) } ?? .open("/dev/null", flags: O_RDONLY), .copy(stdout), .copy(stderr)])
    }

    /// A line of the configuration's transcript, if it keeps one: nil when written (or none is kept), else why not.
    /// Every entry counts against its user's `TranscriptRate` but a command's end (its start was counted); a refused
    /// line over it is counted instead of written, and the count goes with the user's next entry.
    @discardableResult
    func transcribe(_ session: HostedSession, _ user: String, _ event: String, _ line: String, counted: Bool = true) -> String? {
        guard let transcript else { return nil }
        let runAs = session.record.runAs.isEmpty ? owner : session.record.runAs
        var entry = Transcript.entry(session: session.record.name, id: session.record.id, user: user, runAs: runAs, event: event, line: line)
        if counted {
            if let problem = transcriptRateProblem(for: user, bytes: entry.utf8.count) {
                if event.hasPrefix("refused") { transcriptRate.countUnrecorded(for: user) }
                return problem
            }
            _ = transcriptRate.take(entry.utf8.count, for: user, now: Posix.milliseconds)
            let unrecorded = transcriptRate.takeUnrecorded(for: user)
            if unrecorded > 0 {
                entry =
                    Transcript.entry(
                        session: session.record.name, id: session.record.id, user: user, runAs: runAs,
                        event: "\(unrecorded) refused line\(unrecorded == 1 ? "" : "s") not recorded (over the transcript's rate)", line: "")
                    + entry
            }
        }
        guard transcript.record(entry, id: session.record.id) else {
            return "configuration \(configuration?.name ?? ""): its transcript cannot be written (\(transcript.directory))"
        }
        return nil
    }

    /// Why `user` may not add `bytes` to the transcript now, or nil (always nil without a transcript).
    func transcriptRateProblem(for user: String, bytes: Int) -> String? {
        guard transcript != nil else { return nil }
        var trial = transcriptRate
        guard !trial.take(bytes, for: user, now: Posix.milliseconds) else { return nil }
        return
            "configuration \(configuration?.name ?? "") records at most \(TranscriptRate.rate >> 10) KiB a second of each user's lines in its transcript, and \(user) is over it: try again in \(transcriptRate.secondsUntil(bytes, for: user)) s"
    }
}
