/// A command run in a session, as `pss job list` shows it. Every invoked command is one; those started with
/// `--as-job` are kept (output and status) until removed, the others until their output has been received.
public struct JobRecord: Equatable, Sendable {
    public enum State: String, Sendable {
        case running = "Running", completed = "Completed", failed = "Failed", stopped = "Stopped"
    }

    /// The command's number in its session, as text: "1", "2", ...
    public var id: String
    public var name: String
    public var sessionID: String
    public var sessionName: String
    public var state: State
    /// The exit code, or nil while running or when the end is unknown (the daemon died while it ran).
    public var exitCode: Int32?
    public var command: String
    public var startedAt: Int64
    /// 0 while running.
    public var endedAt: Int64
    /// Output not yet received (acknowledged) is on the host.
    public var hasMoreData: Bool
    /// Started with --as-job: kept until `job remove`.
    public var isJob: Bool
    /// A job that has ended and was not received: when its session may close with it (its retention from its end;
    /// the session's idle timeout may keep it longer). 0 otherwise.
    public var keptUntil: Int64 = 0

    /// How long a job's output and status are kept after it ended, when nobody received them, by default.
    public static let defaultRetentionSeconds: UInt32 = 7 * 86400

    public init(
        id: String, name: String, sessionID: String, sessionName: String, state: State, exitCode: Int32?,
        command: String, startedAt: Int64, endedAt: Int64, hasMoreData: Bool, isJob: Bool
    ) {
        self.id = id
        self.name = name
        self.sessionID = sessionID
        self.sessionName = sessionName
        self.state = state
        self.exitCode = exitCode
        self.command = command
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.hasMoreData = hasMoreData
        self.isJob = isJob
    }

    func encode(into writer: inout WireWriter) {
        writer.string(id); writer.string(name); writer.string(sessionID); writer.string(sessionName)
        writer.string(state.rawValue); writer.bool(exitCode != nil); writer.i32(exitCode ?? 0); writer.string(command)
        writer.i64(startedAt); writer.i64(endedAt); writer.bool(hasMoreData); writer.bool(isJob); writer.i64(keptUntil)
    }

    static func decode(from reader: inout WireReader) throws -> JobRecord {
        let id = try reader.string(), name = try reader.string(), sessionID = try reader.string()
        let sessionName = try reader.string()
        guard let state = State(rawValue: try reader.string()) else { throw WireError.truncated }
        let hasCode = try reader.bool(), code = try reader.i32()
        var record = JobRecord(
            id: id, name: name, sessionID: sessionID, sessionName: sessionName, state: state,
            exitCode: hasCode ? code : nil, command: try reader.string(), startedAt: try reader.i64(),
            endedAt: try reader.i64(), hasMoreData: try reader.bool(), isJob: try reader.bool())
        record.keptUntil = try reader.i64()
        return record
    }
}

/// How far a client has received a command's two streams.
public struct StreamOffsets: Equatable, Sendable {
    public var stdout: UInt64
    public var stderr: UInt64

    public init(stdout: UInt64 = 0, stderr: UInt64 = 0) {
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Past any output: a receive from here gets only the command's end.
    public static let end = StreamOffsets(stdout: .max, stderr: .max)

    public subscript(stream: HostMessage.Stream) -> UInt64 {
        get { stream == .stdout ? stdout : stderr }
        set { if stream == .stdout { stdout = newValue } else { stderr = newValue } }
    }
}
