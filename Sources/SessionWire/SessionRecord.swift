/// What a session is, as the host knows it and the client shows it (`pss get`).
public struct SessionRecord: Equatable, Sendable {
    public enum State: String, Sendable {
        case opened = "Opened", disconnected = "Disconnected", broken = "Broken", closed = "Closed"
    }

    public enum Availability: String, Sendable {
        case available = "Available", busy = "Busy", none = "None"
    }

    public enum OutputBuffering: String, Sendable {
        case block, drop
    }

    public var id: String
    public var name: String
    public var owner: String
    public var state: State
    /// The client (its id from PSS_CLIENT_DIR) that holds the session.
    public var heldBy: String
    public var createdAt: Int64
    public var idleTimeoutSeconds: UInt32
    /// When the idle clock will close the session if nothing happens; 0 while it does not run.
    public var expiresAt: Int64
    public var outputBuffering: OutputBuffering
    public var maxBuffer: UInt64
    /// The running command, or empty.
    public var command: String
    public var temporary: Bool
    /// The session configuration it was made in (`--configuration`), or empty.
    public var configuration: String
    /// The user its shell runs as, when the configuration has runAs (`owner` is then who made it); or empty.
    public var runAs: String
    /// Its configuration has allowedCommands: no shell, each command line checked and run directly.
    public var restricted: Bool

    public init(
        id: String, name: String, owner: String, state: State = .opened, heldBy: String, createdAt: Int64,
        idleTimeoutSeconds: UInt32, expiresAt: Int64 = 0, outputBuffering: OutputBuffering = .block,
        maxBuffer: UInt64 = SessionRecord.defaultMaxBuffer, command: String = "", temporary: Bool = false,
        configuration: String = "", runAs: String = "", restricted: Bool = false
    ) {
        self.id = id
        self.name = name
        self.owner = owner
        self.state = state
        self.heldBy = heldBy
        self.createdAt = createdAt
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.expiresAt = expiresAt
        self.outputBuffering = outputBuffering
        self.maxBuffer = maxBuffer
        self.command = command
        self.temporary = temporary
        self.configuration = configuration
        self.runAs = runAs
        self.restricted = restricted
    }

    public static let defaultIdleTimeout: UInt32 = 2 * 3600
    public static let minimumIdleTimeout: UInt32 = 60
    public static let defaultMaxBuffer: UInt64 = 1 << 30

    /// Availability as `client` sees it: Busy while a command runs or another client holds the session.
    public func availability(for client: String) -> Availability {
        switch state {
        case .disconnected, .broken, .closed: return .none
        case .opened: return !command.isEmpty || heldBy != client ? .busy : .available
        }
    }

    func encode(into writer: inout WireWriter) {
        writer.string(id); writer.string(name); writer.string(owner); writer.string(state.rawValue)
        writer.string(heldBy); writer.i64(createdAt); writer.u32(idleTimeoutSeconds); writer.i64(expiresAt)
        writer.string(outputBuffering.rawValue); writer.u64(maxBuffer); writer.string(command); writer.bool(temporary)
        writer.string(configuration); writer.string(runAs); writer.bool(restricted)
    }

    static func decode(from reader: inout WireReader) throws -> SessionRecord {
        let id = try reader.string(), name = try reader.string(), owner = try reader.string()
        guard let state = State(rawValue: try reader.string()) else { throw WireError.truncated }
        let heldBy = try reader.string(), createdAt = try reader.i64(), idle = try reader.u32(), expires = try reader.i64()
        guard let buffering = OutputBuffering(rawValue: try reader.string()) else { throw WireError.truncated }
        return SessionRecord(
            id: id, name: name, owner: owner, state: state, heldBy: heldBy, createdAt: createdAt,
            idleTimeoutSeconds: idle, expiresAt: expires, outputBuffering: buffering,
            maxBuffer: try reader.u64(), command: try reader.string(), temporary: try reader.bool(),
            configuration: try reader.string(), runAs: try reader.string(), restricted: try reader.bool())
    }
}

/// Configuration names: as session names (letters, digits, `-`, `_`, `.`; not starting with `-` or `.`), so that
/// a name is a file name and nothing more. Shared so that the client refuses a bad name before connecting, and the
/// host, the system-wide helper and the keeper refuse it again.
public enum ConfigurationName {
    /// Why `name` is not acceptable, or nil when it is.
    public static func problem(with name: String) -> String? {
        SessionName.problem(with: name) == nil
            ? nil
            : "a configuration name has 1 to \(SessionName.maximumLength) letters, digits, '-', '_' or '.', and does not start with '-' or '.'"
    }
}

/// Session names: what users type, and what becomes part of no path. Shared so that the client refuses a bad
/// name before connecting and the host refuses it again.
public enum SessionName {
    public static let maximumLength = 64

    /// Why `name` is not acceptable, or nil when it is.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "a session name cannot be empty" }
        if name.utf8.count > maximumLength { return "a session name has at most \(maximumLength) characters" }
        guard let first = name.unicodeScalars.first, first != "-", first != "." else {
            return "a session name cannot start with '-' or '.'"
        }
        for scalar in name.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": continue
            default: return "a session name may hold only letters, digits, '-', '_' and '.'"
            }
        }
        return nil
    }

    /// Whether `text` is a session id (a UUID) rather than a name.
    public static func isID(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == 36 else { return false }
        for (index, scalar) in scalars.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                if scalar != "-" { return false }
            } else if !("0"..."9").contains(scalar) && !("a"..."f").contains(scalar) {
                return false
            }
        }
        return true
    }
}
