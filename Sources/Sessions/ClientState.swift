import Foundation
import SessionWire

/// This client machine's own state, in `$PSS_CLIENT_DIR` (default `${XDG_STATE_HOME:-~/.local/state}/pss`): its
/// id, and a cache of the sessions it knows (the truth about sessions is on the hosts; the cache lets a bare NAME
/// find its host, and `pss get` know where to look).
public struct ClientState {
    public let directory: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let explicit = environment["PSS_CLIENT_DIR"], !explicit.isEmpty {
            directory = explicit
        } else {
            let state = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state"
            directory = state + "/pss"
        }
    }

    private func prepare() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    /// This client's id, made on first use.
    public func clientID() throws -> String {
        let path = directory + "/client-id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
           SessionName.isID(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try prepare()
        let id = UUID().uuidString.lowercased()
        try (id + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return id
    }

    public struct KnownSession: Codable, Equatable {
        public var host: String
        public var id: String
        public var name: String

        public init(host: String, id: String, name: String) {
            self.host = host
            self.id = id
            self.name = name
        }
    }

    private var cachePath: String { directory + "/sessions.json" }

    public func knownSessions() -> [KnownSession] {
        guard let data = FileManager.default.contents(atPath: cachePath) else { return [] }
        return (try? JSONDecoder().decode([KnownSession].self, from: data)) ?? []
    }

    /// Replaces what is known of `host` with `records` (all of its sessions), or adds `records` when `complete`
    /// is false.
    public func remember(host: String, records: [SessionRecord], complete: Bool) {
        var known = knownSessions()
        if complete { known.removeAll { $0.host == host } }
        for record in records {
            known.removeAll { $0.host == host && $0.id == record.id }
            known.append(KnownSession(host: host, id: record.id, name: record.name))
        }
        save(known)
    }

    public func forget(host: String, ids: [String]) {
        save(knownSessions().filter { !($0.host == host && ids.contains($0.id)) })
    }

    /// How far this client got in a command's output when it gave up reconnecting: the next `receive` of that
    /// session from this client starts there, not at what the host last heard acknowledged.
    public struct UnfinishedReceive: Codable, Equatable {
        public var host: String
        public var sessionID: String
        public var sessionName: String
        public var job: String
        public var stdout: UInt64
        public var stderr: UInt64
    }

    private var unfinishedPath: String { directory + "/unfinished.json" }

    private func unfinishedReceives() -> [UnfinishedReceive] {
        guard let data = FileManager.default.contents(atPath: unfinishedPath) else { return [] }
        return (try? JSONDecoder().decode([UnfinishedReceive].self, from: data)) ?? []
    }

    /// Records `entry` (nil: forgets) for its session, replacing an earlier one.
    func setUnfinished(host: String, session: String, _ entry: UnfinishedReceive?) {
        var all = unfinishedReceives().filter { !($0.host == host && ($0.sessionID == session || $0.sessionName == session)) }
        if let entry { all.append(entry) }
        guard (try? prepare()) != nil, let data = try? JSONEncoder().encode(all) else { return }
        try? data.write(to: URL(fileURLWithPath: unfinishedPath), options: .atomic)
    }

    /// Where this client stopped in `session` (an id or a name) on `host` when it gave up reconnecting, for `job`
    /// (nil: any); forgotten once taken.
    public func takeUnfinished(host: String, session: String, job: String?) -> UnfinishedReceive? {
        guard let entry = unfinishedReceives().first(where: {
            $0.host == host && ($0.sessionID == session || $0.sessionName == session) && (job == nil || job == $0.job)
        }) else { return nil }
        setUnfinished(host: host, session: session, nil)
        return entry
    }

    private func save(_ known: [KnownSession]) {
        guard (try? prepare()) != nil, let data = try? JSONEncoder().encode(known) else { return }
        try? data.write(to: URL(fileURLWithPath: cachePath), options: .atomic)
    }
}
