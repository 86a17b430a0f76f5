import Foundation
import Glibc
import SessionWire
import SSHClient

/// This client machine's own state, in `$PSS_CLIENT_DIR` (default `${XDG_STATE_HOME:-~/.local/state}/pss`): its
/// id, a cache of the sessions it knows (the truth about sessions is on the hosts; the cache lets a bare NAME find
/// its host, and `pss get` know where to look), and small caches.
///
/// The directory and every file in it are checked as ssh checks ~/.ssh/config (owned by the user, writable by
/// nobody else, files not symlinks) before anything is read, and every value read is validated: what this
/// directory holds ends up in connections and in commands run on hosts.
public struct ClientState {
    public let directory: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let explicit = environment["PSS_CLIENT_DIR"], !explicit.isEmpty {
            directory = explicit
        } else {
            let state =
                environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state"
            directory = state + "/pss"
        }
    }

    /// Creates the directory (0700) when missing, and refuses it when another user could write it.
    private func prepare() throws {
        if access(directory, F_OK) != 0 {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        try FileSafety.checkPrivateDirectory(directory)
    }

    /// Where the connection keeper's sockets, lock and log are (`ConnectionKeeper`).
    public var keeperDirectory: String { directory + "/keep" }

    /// Creates the keeper's directory (0700) when missing, and refuses it when another user could write it.
    func prepareKeeperDirectory() throws {
        try prepare()
        if mkdir(keeperDirectory, 0o700) != 0 && errno != EEXIST {
            throw SessionError.local("cannot create \(keeperDirectory): \(String(cString: strerror(errno)))")
        }
        try FileSafety.checkPrivateDirectory(keeperDirectory)
    }

    /// A file's contents, after the directory's and the file's checks; nil when it does not exist.
    func read(_ name: String) throws -> [UInt8]? {
        if access(directory, F_OK) != 0 { return nil }
        try FileSafety.checkPrivateDirectory(directory)
        return try FileSafety.readPrivateFile(directory + "/" + name)
    }

    /// Replaces a file whole (a temporary file, 0600, renamed over it).
    func write(_ name: String, _ bytes: [UInt8]) throws {
        try prepare()
        let path = directory + "/" + name
        let temporary = path + ".tmp-\(getpid())-\(pthread_self())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SessionError.local("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw SessionError.local("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Runs `body` holding the state's lock: a read, change and write of a file by one thread or process at a
    /// time (fan-out threads, two pss commands at once), none lost. Without the lock (a directory not writable),
    /// `body` runs anyway: the state is a cache.
    func updating<T>(_ body: () throws -> T) rethrows -> T {
        guard (try? prepare()) != nil else { return try body() }
        let fd = open(directory + "/lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        defer { if fd >= 0 { close(fd) } }
        while fd >= 0, flock(fd, LOCK_EX) != 0, errno == EINTR {}
        return try body()
    }

    /// Removes the files whose names `matching` accepts (old caches).
    func removeFiles(_ matching: (String) -> Bool) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where matching(name) {
            unlink(directory + "/" + name)
        }
    }

    /// This client's id, made on first use.
    public func clientID() throws -> String {
        func stored() throws -> String? {
            guard let bytes = try read("client-id") else { return nil }
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return SessionName.isID(text) ? text : nil
        }
        if let id = try stored() { return id }
        return try updating {
            if let id = try stored() { return id }  // another thread or process made it meanwhile
            let id = UUID().uuidString.lowercased()
            try write("client-id", Array((id + "\n").utf8))
            return id
        }
    }

    public struct KnownSession: Codable, Equatable {
        public var host: String
        public var id: String
        public var name: String
        /// The session configuration whose daemon holds it (`--configuration`); nil for the user's own sessions.
        public var configuration: String?

        public init(host: String, id: String, name: String, configuration: String? = nil) {
            self.host = host
            self.id = id
            self.name = name
            self.configuration = configuration
        }

        /// A host pss can parse, a session id, a session name, a configuration name: anything else in the file is
        /// dropped.
        var isValid: Bool {
            (try? HostSpec(parsing: host)) != nil && SessionName.isID(id) && SessionName.problem(with: name) == nil
                && (configuration.map { ConfigurationName.problem(with: $0) == nil } ?? true)
        }
    }

    private static let sessionsFile = "sessions.json"

    public func knownSessions() throws -> [KnownSession] {
        guard let bytes = try read(Self.sessionsFile) else { return [] }
        return ((try? JSONDecoder().decode([KnownSession].self, from: Data(bytes))) ?? []).filter(\.isValid)
    }

    /// Replaces what is known of `host` (of one configuration's daemon there: nil, the user's own) with `records`
    /// (all of its sessions), or adds `records` when `complete` is false.
    public func remember(host: String, configuration: String? = nil, records: [SessionRecord], complete: Bool) {
        updating {
            guard var known = try? knownSessions() else { return }
            if complete { known.removeAll { $0.host == host && $0.configuration == configuration } }
            for record in records {
                known.removeAll { $0.host == host && $0.id == record.id }
                known.append(
                    KnownSession(host: host, id: record.id, name: record.name, configuration: record.configuration.isEmpty ? nil : record.configuration))
            }
            save(known.filter(\.isValid))
        }
    }

    /// The configurations this client knows sessions of on `host`, by name.
    public func knownConfigurations(on host: String) -> [String] {
        Set(((try? knownSessions()) ?? []).filter { $0.host == host }.compactMap(\.configuration)).sorted()
    }

    public func forget(host: String, ids: [String]) {
        updating {
            guard let known = try? knownSessions() else { return }
            save(known.filter { !($0.host == host && ids.contains($0.id)) })
        }
    }

    private func save(_ known: [KnownSession]) {
        guard let data = try? JSONEncoder().encode(known) else { return }
        try? write(Self.sessionsFile, [UInt8](data))
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

        var isValid: Bool {
            (try? HostSpec(parsing: host)) != nil && SessionName.isID(sessionID)
                && SessionName.problem(with: sessionName) == nil && !job.isEmpty && job.utf8.count <= SessionName.maximumLength
        }
    }

    private static let unfinishedFile = "unfinished.json"

    private func unfinishedReceives() throws -> [UnfinishedReceive] {
        guard let bytes = try read(Self.unfinishedFile) else { return [] }
        return ((try? JSONDecoder().decode([UnfinishedReceive].self, from: Data(bytes))) ?? []).filter(\.isValid)
    }

    /// Records `entry` (nil: forgets) for its session, replacing an earlier one.
    func setUnfinished(host: String, session: String, _ entry: UnfinishedReceive?) {
        updating { storeUnfinished(host: host, session: session, entry) }
    }

    /// setUnfinished's work, for a caller that holds the lock already (a second flock would wait for itself).
    private func storeUnfinished(host: String, session: String, _ entry: UnfinishedReceive?) {
        guard var all = try? unfinishedReceives() else { return }
        all.removeAll { $0.host == host && ($0.sessionID == session || $0.sessionName == session) }
        if let entry { all.append(entry) }
        guard let data = try? JSONEncoder().encode(all) else { return }
        try? write(Self.unfinishedFile, [UInt8](data))
    }

    /// Where this client stopped in `session` (an id or a name) on `host` when it gave up reconnecting, for `job`
    /// (nil: any); forgotten once taken.
    public func takeUnfinished(host: String, session: String, job: String?) throws -> UnfinishedReceive? {
        try updating {
            guard
                let entry = try unfinishedReceives().first(where: {
                    $0.host == host && ($0.sessionID == session || $0.sessionName == session) && (job == nil || job == $0.job)
                })
            else { return nil }
            storeUnfinished(host: host, session: session, nil)
            return entry
        }
    }
}
