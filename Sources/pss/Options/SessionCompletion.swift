import ArgumentParser
import Sessions

/// Shell completion of session arguments: the sessions this client knows, as HOST/NAME, from its own state.
/// Nothing connects while a user presses Tab.
enum SessionCompletion {
    static let known = CompletionKind.custom { _ in
        let sessions = (try? ClientState().knownSessions()) ?? []
        return sessions.map { "\($0.host)/\($0.name)" }.sorted()
    }
}
