/// What a client asks of the host daemon.
public enum ClientMessage: Equatable, Sendable {
    case hello(version: UInt32, clientID: String)
    /// A persistent session; its shell reads the user's login files first unless `loadsProfile` is false.
    case newSession(
        name: String, idleTimeoutSeconds: UInt32, outputBuffering: SessionRecord.OutputBuffering, maxBuffer: UInt64,
        loadsProfile: Bool)
    case listSessions
    /// Runs a command in a session, or in a new temporary session when the invocation names none.
    case invoke(Invocation)
    case stdin([UInt8])
    case stdinEnd
    case removeSession(String)
    case removeAllSessions
    /// Streams a command's output (`job` empty: the session's latest command) from `from`, or from what was last
    /// acknowledged when nil; to its end when `follow`, else up to what is there now. `take` connects a
    /// Disconnected session to this client first. `from` at `StreamOffsets.end` sends no output, only the end
    /// (`job wait`).
    case receive(session: String, job: String, from: StreamOffsets?, follow: Bool, take: Bool)
    /// The client has the output up to these offsets (and, when `complete`, the command's end): the host may let
    /// it go.
    case ack(session: String, job: String, received: StreamOffsets, complete: Bool)
    /// Leaves the session running on the host, held by nobody; zero and empty values leave a setting as it is.
    case disconnect(session: String, idleTimeoutSeconds: UInt32, outputBuffering: String)
    case connect(session: String, force: Bool)
    /// Jobs of one session, or of every session when `session` is empty.
    case listJobs(session: String)
    case stopJob(session: String, job: String)
    case removeJob(session: String, job: String)
    /// Ctrl-C from the client streaming a command: SIGINT to the command (its foreground process group).
    case interrupt
    /// Attaches this client to the session's terminal (`pss enter`), at the client's window size; an empty session
    /// makes a temporary one, closed when the user leaves it with `exit`.
    /// `keys` names this client's stream of keys: entering again with the same one (after a lost connection) is
    /// answered with how much of it the host took, so nothing is typed twice or lost.
    case enter(session: String, force: Bool, size: WindowSize, term: String, keys: String)
    /// What the user typed, as typed; `offset` is where it starts in their stream of keys.
    case terminalInput(offset: UInt64, [UInt8])
    /// The entered user's window changed.
    case resize(WindowSize)
    /// The entered user detached (the detach key): the session stays, with whatever runs in it.
    case leave
    /// The client is done with this link, which the client's connection keeper would give to its next command:
    /// answered `released` when nothing (a command's output, a terminal) is bound to it any more.
    case release

    /// The type byte `release` frames start with (the connection keeper watches for it).
    public static let releaseType: UInt8 = 21
    /// Installs `text` as session configuration `name` (root only), answered `configured`.
    case registerConfiguration(name: String, text: [UInt8])
    /// Removes every trace of configuration `name` (root only), answered `configured`.
    case unregisterConfiguration(name: String)
    /// The host's configurations, answered `configurations` pages.
    case listConfigurations

    /// What `invoke` asks for.
    public struct Invocation: Equatable, Sendable {
        /// An id or a name; empty for a new temporary session.
        public var session: String
        public var command: String
        public var forwardStdin: Bool
        public var waitSeconds: UInt32
        /// Start and answer at once; the output stays on the host until the job is removed.
        public var asJob = false
        public var jobName = ""
        /// 0: no limit.
        public var timeoutSeconds: UInt32 = 0
        /// Refuse to start while a running command of this user holds the same lock.
        public var lock = ""
        /// The client has a terminal: what the command writes to its terminal is sent as `terminalOutput`, and the
        /// user's keys come as `terminalInput` (as ssh -t), instead of the command getting end of file there.
        public var terminal = false
        /// For a new temporary session: its idle timeout (0: the default).
        public var idleTimeoutSeconds: UInt32 = 0
        /// For a job: how long its output and status are kept, once it has ended, until received (0: the default,
        /// `JobRecord.defaultRetentionSeconds`).
        public var retentionSeconds: UInt32 = 0

        public init(
            session: String, command: String, forwardStdin: Bool, waitSeconds: UInt32, asJob: Bool = false,
            jobName: String = "", timeoutSeconds: UInt32 = 0, lock: String = ""
        ) {
            self.session = session
            self.command = command
            self.forwardStdin = forwardStdin
            self.waitSeconds = waitSeconds
            self.asJob = asJob
            self.jobName = jobName
            self.timeoutSeconds = timeoutSeconds
            self.lock = lock
        }

        public func withTerminal(_ terminal: Bool) -> Invocation {
            var copy = self
            copy.terminal = terminal
            return copy
        }
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter.frame()
        switch self {
        case let .hello(version, clientID): w.u8(1); w.u32(version); w.string(clientID)
        case let .newSession(name, idle, buffering, maxBuffer, loadsProfile):
            w.u8(2); w.string(name); w.u32(idle); w.string(buffering.rawValue); w.u64(maxBuffer); w.bool(loadsProfile)
        case .listSessions: w.u8(3)
        case let .invoke(i):
            w.u8(4); w.string(i.session); w.string(i.command); w.bool(i.forwardStdin); w.u32(i.waitSeconds)
            w.bool(i.asJob); w.string(i.jobName); w.u32(i.timeoutSeconds); w.string(i.lock); w.bool(i.terminal)
            w.u32(i.idleTimeoutSeconds); w.u32(i.retentionSeconds)
        case let .stdin(bytes): w.u8(5); w.data(bytes)
        case .stdinEnd: w.u8(6)
        case let .removeSession(session): w.u8(7); w.string(session)
        case .removeAllSessions: w.u8(8)
        case let .receive(session, job, from, follow, take):
            w.u8(9); w.string(session); w.string(job); w.bool(from != nil); w.u64(from?.stdout ?? 0); w.u64(from?.stderr ?? 0)
            w.bool(follow); w.bool(take)
        case let .ack(session, job, received, complete):
            w.u8(10); w.string(session); w.string(job); w.u64(received.stdout); w.u64(received.stderr); w.bool(complete)
        case let .disconnect(session, idle, buffering): w.u8(11); w.string(session); w.u32(idle); w.string(buffering)
        case let .connect(session, force): w.u8(12); w.string(session); w.bool(force)
        case let .listJobs(session): w.u8(13); w.string(session)
        case let .stopJob(session, job): w.u8(14); w.string(session); w.string(job)
        case let .removeJob(session, job): w.u8(15); w.string(session); w.string(job)
        case .interrupt: w.u8(16)
        case let .enter(session, force, size, term, keys):
            w.u8(17); w.string(session); w.bool(force); size.encode(into: &w); w.string(term); w.string(keys)
        case let .terminalInput(offset, bytes): w.u8(18); w.u64(offset); w.data(bytes)
        case let .resize(size): w.u8(19); size.encode(into: &w)
        case .leave: w.u8(20)
        case .release: w.u8(Self.releaseType)
        case let .registerConfiguration(name, text): w.u8(22); w.string(name); w.data(text)
        case let .unregisterConfiguration(name): w.u8(23); w.string(name)
        case .listConfigurations: w.u8(24)
        }
        return w.framed()
    }

    public init(decoding body: ArraySlice<UInt8>) throws {
        var r = WireReader(body)
        switch try r.u8() {
        case 1: self = .hello(version: try r.u32(), clientID: try r.string())
        case 2:
            let name = try r.string(), idle = try r.u32()
            guard let buffering = SessionRecord.OutputBuffering(rawValue: try r.string()) else { throw WireError.truncated }
            self = .newSession(
                name: name, idleTimeoutSeconds: idle, outputBuffering: buffering, maxBuffer: try r.u64(),
                loadsProfile: try r.bool())
        case 3: self = .listSessions
        case 4:
            var invocation = Invocation(
                session: try r.string(), command: try r.string(), forwardStdin: try r.bool(),
                waitSeconds: try r.u32(), asJob: try r.bool(), jobName: try r.string(),
                timeoutSeconds: try r.u32(), lock: try r.string()
            ).withTerminal(try r.bool())
            invocation.idleTimeoutSeconds = try r.u32()
            invocation.retentionSeconds = try r.u32()
            self = .invoke(invocation)
        case 5: self = .stdin(Array(try r.data()))
        case 6: self = .stdinEnd
        case 7: self = .removeSession(try r.string())
        case 8: self = .removeAllSessions
        case 9:
            let session = try r.string(), job = try r.string(), hasFrom = try r.bool()
            let from = StreamOffsets(stdout: try r.u64(), stderr: try r.u64())
            self = .receive(session: session, job: job, from: hasFrom ? from : nil, follow: try r.bool(), take: try r.bool())
        case 10:
            let session = try r.string(), job = try r.string()
            self = .ack(
                session: session, job: job, received: StreamOffsets(stdout: try r.u64(), stderr: try r.u64()),
                complete: try r.bool())
        case 11: self = .disconnect(session: try r.string(), idleTimeoutSeconds: try r.u32(), outputBuffering: try r.string())
        case 12: self = .connect(session: try r.string(), force: try r.bool())
        case 13: self = .listJobs(session: try r.string())
        case 14: self = .stopJob(session: try r.string(), job: try r.string())
        case 15: self = .removeJob(session: try r.string(), job: try r.string())
        case 16: self = .interrupt
        case 17:
            self = .enter(
                session: try r.string(), force: try r.bool(), size: try WindowSize.decode(from: &r), term: try r.string(),
                keys: try r.string())
        case 18: self = .terminalInput(offset: try r.u64(), Array(try r.data()))
        case 19: self = .resize(try WindowSize.decode(from: &r))
        case 20: self = .leave
        case Self.releaseType: self = .release
        case 22: self = .registerConfiguration(name: try r.string(), text: Array(try r.data()))
        case 23: self = .unregisterConfiguration(name: try r.string())
        case 24: self = .listConfigurations
        case let type: throw WireError.unknownMessage(type)
        }
    }
}

/// What the host daemon answers.
public enum HostMessage: Equatable, Sendable {
    public enum Failure: UInt8, Sendable {
        case noSuchSession = 1, busy, duplicateName, invalidRequest, hostFailure, denied, versionMismatch
        /// `--lock`: a running command holds the lock (exit 75).
        case locked
    }

    public enum Stream: UInt8, Sendable { case stdout = 1, stderr = 2 }

    case hello(version: UInt32, helper: String)
    case failure(Failure, String)
    case session(SessionRecord)
    /// A list of sessions, in frames of at most `HostMessage.pageSize`: `more` until the last.
    case sessions([SessionRecord], more: Bool)
    /// The command began (or, for `receive`, is being streamed from `from` on) in `session`.
    case started(SessionRecord, JobRecord, from: StreamOffsets)
    /// A slice of what was received, so output is not copied on its way to stdout.
    case output(Stream, offset: UInt64, ArraySlice<UInt8>)
    /// Output from `from` to `to` was discarded on the host (`--output-buffering drop`).
    case dropped(Stream, from: UInt64, to: UInt64)
    /// A `receive` without follow has everything there is so far; the command still runs.
    case pending(JobRecord)
    /// A list of jobs, paged as `sessions`.
    case jobs([JobRecord], more: Bool)
    /// Something the user should know while a command streams (the host's disk is full, and output waits).
    case notice(String)
    case job(JobRecord)
    /// The command ended: its exit code, or the signal that killed it; `shellEnded` when it also ended the
    /// session's shell (`exit`, `exec`), which the host then replaced with a fresh one.
    case exited(status: Int32, signal: String, shellEnded: Bool)
    case removed(count: UInt32)
    /// The client is entered in the session's terminal; its output follows as `terminalOutput`. `keysTaken`: how
    /// much of the client's stream of keys the host has (0 for a new stream).
    case entered(SessionRecord, keysTaken: UInt64)
    case terminalOutput(ArraySlice<UInt8>)
    /// The client is no longer entered: `exit` at the session's top level, another client took the session over,
    /// or the session was closed (`closed`: a temporary session ended with the user's `exit`).
    case left(reason: String, closed: Bool)
    /// The answer to `release`: the link is as new (after hello) for whoever speaks on it next.
    case released
    /// Configuration files on the host, a page at a time.
    case configurations([ConfigurationEntry], more: Bool)
    /// What registering or unregistering a configuration did, a line each.
    case configured([String])

    /// The type byte `released` frames start with (the connection keeper watches for it).
    public static let releasedType: UInt8 = 117

    /// The start of `.output(stream, offset, bytes)`'s frame, up to its bytes: written just before them, so output
    /// reaches the client without being copied into a frame.
    public static func outputFrameHeader(_ stream: Stream, offset: UInt64, count: Int) -> [UInt8] {
        var w = WireWriter.frame()
        w.u8(106); w.u8(stream.rawValue); w.u64(offset); w.u32(UInt32(count))
        return w.framed(following: count)
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter.frame()
        switch self {
        case let .hello(version, helper): w.u8(101); w.u32(version); w.string(helper)
        case let .failure(kind, message): w.u8(102); w.u8(kind.rawValue); w.string(message)
        case let .session(record): w.u8(103); record.encode(into: &w)
        case let .sessions(records, more):
            w.u8(104); w.u32(UInt32(records.count)); records.forEach { $0.encode(into: &w) }; w.bool(more)
        case let .started(record, job, from):
            w.u8(105); record.encode(into: &w); job.encode(into: &w); w.u64(from.stdout); w.u64(from.stderr)
        case let .output(stream, offset, bytes): return Self.outputFrameHeader(stream, offset: offset, count: bytes.count) + bytes
        case let .exited(status, signal, shellEnded): w.u8(107); w.i32(status); w.string(signal); w.bool(shellEnded)
        case let .removed(count): w.u8(108); w.u32(count)
        case let .dropped(stream, from, to): w.u8(109); w.u8(stream.rawValue); w.u64(from); w.u64(to)
        case let .pending(job): w.u8(110); job.encode(into: &w)
        case let .jobs(jobs, more): w.u8(111); w.u32(UInt32(jobs.count)); jobs.forEach { $0.encode(into: &w) }; w.bool(more)
        case let .notice(text): w.u8(113); w.string(text)
        case let .job(job): w.u8(112); job.encode(into: &w)
        case let .entered(record, keysTaken): w.u8(114); record.encode(into: &w); w.u64(keysTaken)
        case let .terminalOutput(bytes): w.u8(115); w.data(bytes)
        case let .left(reason, closed): w.u8(116); w.string(reason); w.bool(closed)
        case .released: w.u8(Self.releasedType)
        case let .configurations(entries, more):
            w.u8(118); w.u32(UInt32(entries.count)); entries.forEach { $0.encode(into: &w) }; w.bool(more)
        case let .configured(lines): w.u8(119); w.u32(UInt32(lines.count)); lines.forEach { w.string($0) }
        }
        return w.framed()
    }

    public init(decoding body: ArraySlice<UInt8>) throws {
        var r = WireReader(body)
        switch try r.u8() {
        case 101: self = .hello(version: try r.u32(), helper: try r.string())
        case 102: self = .failure(Failure(rawValue: try r.u8()) ?? .hostFailure, try r.string())
        case 103: self = .session(try SessionRecord.decode(from: &r))
        case 104:
            let records = try (0..<Int(try r.u32())).map { _ in try SessionRecord.decode(from: &r) }
            self = .sessions(records, more: try r.bool())
        case 105:
            let record = try SessionRecord.decode(from: &r), job = try JobRecord.decode(from: &r)
            self = .started(record, job, from: StreamOffsets(stdout: try r.u64(), stderr: try r.u64()))
        case 106:
            guard let stream = Stream(rawValue: try r.u8()) else { throw WireError.truncated }
            self = .output(stream, offset: try r.u64(), try r.data())
        case 107: self = .exited(status: try r.i32(), signal: try r.string(), shellEnded: try r.bool())
        case 108: self = .removed(count: try r.u32())
        case 109:
            guard let stream = Stream(rawValue: try r.u8()) else { throw WireError.truncated }
            self = .dropped(stream, from: try r.u64(), to: try r.u64())
        case 110: self = .pending(try JobRecord.decode(from: &r))
        case 111:
            let jobs = try (0..<Int(try r.u32())).map { _ in try JobRecord.decode(from: &r) }
            self = .jobs(jobs, more: try r.bool())
        case 113: self = .notice(try r.string())
        case 112: self = .job(try JobRecord.decode(from: &r))
        case 114: self = .entered(try SessionRecord.decode(from: &r), keysTaken: try r.u64())
        case 115: self = .terminalOutput(try r.data())
        case 116: self = .left(reason: try r.string(), closed: try r.bool())
        case Self.releasedType: self = .released
        case 118:
            let count = try r.u32()
            guard count <= 100_000 else { throw WireError.truncated }
            var entries: [ConfigurationEntry] = []
            for _ in 0..<count { entries.append(try ConfigurationEntry.decode(from: &r)) }
            self = .configurations(entries, more: try r.bool())
        case 119:
            let count = try r.u32()
            guard count <= 1000 else { throw WireError.truncated }
            var lines: [String] = []
            for _ in 0..<count { lines.append(try r.string()) }
            self = .configured(lines)
        case let type: throw WireError.unknownMessage(type)
        }
    }
}

/// A terminal's size, in character cells.
public struct WindowSize: Equatable, Sendable {
    public var rows: UInt16
    public var columns: UInt16

    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }

    func encode(into w: inout WireWriter) { w.u32(UInt32(rows) << 16 | UInt32(columns)) }

    static func decode(from r: inout WireReader) throws -> WindowSize {
        let both = try r.u32()
        return WindowSize(rows: UInt16(both >> 16), columns: UInt16(both & 0xFFFF))
    }
}

extension HostMessage {
    /// How many bytes of records one `sessions` or `jobs` frame carries at most: a list of any length is sent as
    /// several frames, each well inside `WireProtocol.maximumFrame`.
    public static let pageSize = 1 << 20

    /// `records` as `sessions` frames of at most `pageSize` bytes each (always at least one).
    public static func pages(of records: [SessionRecord]) -> [HostMessage] {
        paged(
            records,
            size: {
                var w = WireWriter(); $0.encode(into: &w); return w.bytes.count
            }
        ) { .sessions($0, more: $1) }
    }

    /// `entries` as `configurations` frames of at most `pageSize` bytes each (a bigger entry alone in its own).
    public static func pages(of entries: [ConfigurationEntry]) -> [HostMessage] {
        paged(
            entries,
            size: {
                var w = WireWriter(); $0.encode(into: &w); return w.bytes.count
            }
        ) { .configurations($0, more: $1) }
    }

    /// `jobs` as `jobs` frames of at most `pageSize` bytes each (always at least one).
    public static func pages(of jobs: [JobRecord]) -> [HostMessage] {
        paged(
            jobs,
            size: {
                var w = WireWriter(); $0.encode(into: &w); return w.bytes.count
            }
        ) { .jobs($0, more: $1) }
    }

    private static func paged<T>(_ items: [T], size: (T) -> Int, _ make: ([T], Bool) -> HostMessage) -> [HostMessage] {
        var pages: [[T]] = [[]]
        var used = 0
        for item in items {
            let bytes = size(item)
            if used + bytes > pageSize, !pages[pages.count - 1].isEmpty {
                pages.append([])
                used = 0
            }
            pages[pages.count - 1].append(item)
            used += bytes
        }
        return pages.enumerated().map { make($1, $0 < pages.count - 1) }
    }
}

/// Commands on the wire: how long one may be, and how much of one a listing carries, so that no answer outgrows a
/// frame however long the commands kept are.
public enum CommandText {
    /// The longest command a client sends and a host accepts (it runs from a file; this bounds what is kept).
    public static let maximumLength = 1 << 20
    /// A listing (`get`, `job list`, a command's start) carries at most this many bytes of a command.
    public static let shownLength = 4096

    /// `command`, cut to `shownLength` bytes (on a character boundary) with `…` when it is longer.
    public static func shown(_ command: String) -> String {
        guard command.utf8.count > shownLength else { return command }
        var cut = ""
        var used = 0
        for character in command {
            used += character.utf8.count
            if used > shownLength - 3 { break }
            cut.append(character)
        }
        return cut + "…"
    }
}

/// A session configuration file as the host found it: its name, its text, and why it cannot be used (empty when
/// it can).
public struct ConfigurationEntry: Equatable, Sendable {
    public var name: String
    public var text: [UInt8]
    public var problem: String
    /// The configuration lets the asking user in (its allowUsers, allowGroups, or its runAs user itself).
    public var allowsCaller: Bool
    /// It may hold sessions (false only when it surely holds none: its sessions directory, the caller's own, is
    /// empty), so that listing sessions does not start its daemon for nothing.
    public var mayHaveSessions: Bool

    public init(name: String, text: [UInt8], problem: String, allowsCaller: Bool = false, mayHaveSessions: Bool = true) {
        self.name = name
        self.text = text
        self.problem = problem
        self.allowsCaller = allowsCaller
        self.mayHaveSessions = mayHaveSessions
    }

    func encode(into writer: inout WireWriter) {
        writer.string(name); writer.data(text); writer.string(problem); writer.bool(allowsCaller); writer.bool(mayHaveSessions)
    }

    static func decode(from reader: inout WireReader) throws -> ConfigurationEntry {
        ConfigurationEntry(
            name: try reader.string(), text: Array(try reader.data()), problem: try reader.string(), allowsCaller: try reader.bool(),
            mayHaveSessions: try reader.bool())
    }
}
