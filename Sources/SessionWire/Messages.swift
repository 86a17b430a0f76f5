/// What a client asks of the host daemon.
public enum ClientMessage: Equatable, Sendable {
    case hello(version: UInt32, clientID: String)
    case newSession(name: String, idleTimeoutSeconds: UInt32, outputBuffering: SessionRecord.OutputBuffering, maxBuffer: UInt64)
    case listSessions
    /// Runs `command` in `session` (an id or a name), or in a new temporary session when `session` is empty.
    case invoke(session: String, command: String, forwardStdin: Bool, waitSeconds: UInt32)
    case stdin([UInt8])
    case stdinEnd
    case removeSession(String)
    case removeAllSessions

    public func encoded() -> [UInt8] {
        var w = WireWriter.frame()
        switch self {
        case let .hello(version, clientID): w.u8(1); w.u32(version); w.string(clientID)
        case let .newSession(name, idle, buffering, maxBuffer):
            w.u8(2); w.string(name); w.u32(idle); w.string(buffering.rawValue); w.u64(maxBuffer)
        case .listSessions: w.u8(3)
        case let .invoke(session, command, forwardStdin, wait):
            w.u8(4); w.string(session); w.string(command); w.bool(forwardStdin); w.u32(wait)
        case let .stdin(bytes): w.u8(5); w.data(bytes)
        case .stdinEnd: w.u8(6)
        case let .removeSession(session): w.u8(7); w.string(session)
        case .removeAllSessions: w.u8(8)
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
            self = .newSession(name: name, idleTimeoutSeconds: idle, outputBuffering: buffering, maxBuffer: try r.u64())
        case 3: self = .listSessions
        case 4: self = .invoke(session: try r.string(), command: try r.string(), forwardStdin: try r.bool(), waitSeconds: try r.u32())
        case 5: self = .stdin(Array(try r.data()))
        case 6: self = .stdinEnd
        case 7: self = .removeSession(try r.string())
        case 8: self = .removeAllSessions
        case let type: throw WireError.unknownMessage(type)
        }
    }
}

/// What the host daemon answers.
public enum HostMessage: Equatable, Sendable {
    public enum Failure: UInt8, Sendable {
        case noSuchSession = 1, busy, duplicateName, invalidRequest, hostFailure, denied, versionMismatch
    }

    public enum Stream: UInt8, Sendable { case stdout = 1, stderr = 2 }

    case hello(version: UInt32, helper: String)
    case failure(Failure, String)
    case session(SessionRecord)
    case sessions([SessionRecord])
    /// The command began in `session`.
    case started(SessionRecord)
    /// A slice of what was received, so output is not copied on its way to stdout.
    case output(Stream, offset: UInt64, ArraySlice<UInt8>)
    /// The command ended: its exit code, or the signal that killed it; `shellEnded` when it also ended the
    /// session's shell (`exit`, `exec`), which the host then replaced with a fresh one.
    case exited(status: Int32, signal: String, shellEnded: Bool)
    case removed(count: UInt32)

    public func encoded() -> [UInt8] {
        var w = WireWriter.frame()
        switch self {
        case let .hello(version, helper): w.u8(101); w.u32(version); w.string(helper)
        case let .failure(kind, message): w.u8(102); w.u8(kind.rawValue); w.string(message)
        case let .session(record): w.u8(103); record.encode(into: &w)
        case let .sessions(records): w.u8(104); w.u32(UInt32(records.count)); records.forEach { $0.encode(into: &w) }
        case let .started(record): w.u8(105); record.encode(into: &w)
        case let .output(stream, offset, bytes): w.u8(106); w.u8(stream.rawValue); w.u64(offset); w.data(bytes)
        case let .exited(status, signal, shellEnded): w.u8(107); w.i32(status); w.string(signal); w.bool(shellEnded)
        case let .removed(count): w.u8(108); w.u32(count)
        }
        return w.framed()
    }

    public init(decoding body: ArraySlice<UInt8>) throws {
        var r = WireReader(body)
        switch try r.u8() {
        case 101: self = .hello(version: try r.u32(), helper: try r.string())
        case 102: self = .failure(Failure(rawValue: try r.u8()) ?? .hostFailure, try r.string())
        case 103: self = .session(try SessionRecord.decode(from: &r))
        case 104: self = .sessions(try (0..<Int(try r.u32())).map { _ in try SessionRecord.decode(from: &r) })
        case 105: self = .started(try SessionRecord.decode(from: &r))
        case 106:
            guard let stream = Stream(rawValue: try r.u8()) else { throw WireError.truncated }
            self = .output(stream, offset: try r.u64(), try r.data())
        case 107: self = .exited(status: try r.i32(), signal: try r.string(), shellEnded: try r.bool())
        case 108: self = .removed(count: try r.u32())
        case let type: throw WireError.unknownMessage(type)
        }
    }
}
