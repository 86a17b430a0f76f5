import SessionWire
import SSHClient

/// A SESSION as users write it: `HOST/NAME`, `HOST/ID`, or a bare NAME this client knows on exactly one host.
public struct SessionReference: Equatable {
    public var host: String
    /// A name or an id.
    public var session: String

    public init(host: String, session: String) {
        self.host = host
        self.session = session
    }

    public init(parsing text: String, known: [ClientState.KnownSession]) throws {
        if let slash = text.lastIndex(of: "/") {
            host = String(text[..<slash])
            session = String(text[text.index(after: slash)...])
            do { _ = try HostSpec(parsing: host) } catch { throw SessionError.usage("session '\(text.sanitizedForDisplay)': \(error)") }
        } else {
            session = text
            let matches = known.filter { $0.name == text || $0.id == text }
            switch Set(matches.map(\.host)).count {
            case 1: host = matches[0].host
            case 0: throw SessionError.refused(.noSuchSession, "no session named '\(text.sanitizedForDisplay)' is known to this client; write HOST/NAME")
            default:
                throw SessionError.usage(
                    "'\(text)' names sessions on several hosts (\(Set(matches.map(\.host)).sorted().joined(separator: ", "))); write HOST/NAME")
            }
        }
        if !SessionName.isID(session), let problem = SessionName.problem(with: session) {
            throw SessionError.usage("session '\(text.sanitizedForDisplay)': \(problem)")
        }
    }

    public var description: String { "\(host)/\(session)" }
}
