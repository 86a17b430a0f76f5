/// The protocol between `pss` and `pss-host`, shared by both so they cannot drift apart.
///
/// A connection carries frames: a 4-byte big-endian length, then that many bytes: a 1-byte message type and its
/// payload. Command output travels only inside frames, so nothing a command prints can be taken for protocol.
/// Both sides open with `hello` carrying `version`; a peer that answers with another version, or with anything
/// but a hello, is not the helper this client expects (the client then reinstalls it).
public enum WireProtocol {
    public static let version: UInt32 = 7
    /// The largest frame either side accepts: bigger frames mean a broken or foreign peer.
    public static let maximumFrame = 4 * 1024 * 1024
    /// Output frames carry at most this much, so one busy stream cannot starve the others.
    public static let outputChunk = 256 * 1024
}

public enum WireError: Error, Equatable, CustomStringConvertible {
    case truncated
    case unknownMessage(UInt8)
    case frameTooLarge(Int)
    case invalidText

    public var description: String {
        switch self {
        case .truncated: return "truncated message"
        case let .unknownMessage(type): return "unknown message type \(type)"
        case let .frameTooLarge(size): return "frame of \(size) bytes is larger than allowed"
        case .invalidText: return "text is not valid UTF-8"
        }
    }
}
