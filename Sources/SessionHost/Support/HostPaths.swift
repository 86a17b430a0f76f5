import Glibc
import SessionWire

/// Where the helper keeps everything on a host: `$PSS_HOST_DIR`, else `${XDG_STATE_HOME:-~/.local/state}/pss-host`.
///
///     bin/pss-host-<sha256 prefix>   helper binaries, by content
///     sessions-v<N>/<id>/            one directory per session: its record, PTY log, commands and their spools; by
///                                    protocol version, as the daemon is: a daemon of another version runs beside
///                                    this one with sessions of its own
///     run/daemon-v<N>.sock           the daemon's socket, in a 0700 directory checked before every use
public struct HostPaths {
    public let base: String

    public init() {
        self.init(environment: { getenv($0).map { String(cString: $0) } })
    }

    public init(base: String) {
        self.base = base
    }

    init(environment: (String) -> String?) {
        if let explicit = environment("PSS_HOST_DIR"), !explicit.isEmpty {
            base = explicit
        } else {
            let state =
                environment("XDG_STATE_HOME").flatMap { $0.isEmpty ? nil : $0 }
                ?? (environment("HOME") ?? "/") + "/.local/state"
            base = state + "/pss-host"
        }
    }

    public var binaries: String { base + "/bin" }
    public var sessions: String { base + "/sessions-v\(WireProtocol.version)" }
    public var runtime: String { base + "/run" }
    public var socket: String { runtime + "/daemon-v\(WireProtocol.version).sock" }
    /// One lock per protocol version, as the socket: a daemon of another version runs beside this one.
    public var lock: String { runtime + "/daemon-v\(WireProtocol.version).lock" }
    public func session(_ id: String) -> String { sessions + "/" + id }
    /// What the idle clock closed (`ExpiredSessions`).
    public var expired: String { base + "/expired-v\(WireProtocol.version)" }

    /// Creates `path` (and its parents) as 0700 if missing, then checks it as DESIGN.md requires: a real directory
    /// (not a symlink), owned by this user, with no group or other permissions (tightened on the opened directory
    /// itself, so a swapped-in symlink is never followed).
    public static func secureDirectory(_ path: String) throws {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw HostError.directory(path, "cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw HostError.directory(
                path,
                errno == ELOOP || errno == ENOTDIR
                    ? "is not a directory (or is a symlink)"
                    : String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw HostError.directory(path, String(cString: strerror(errno))) }
        guard info.st_uid == getuid() else { throw HostError.directory(path, "is owned by another user") }
        if info.st_mode & 0o077 != 0 {
            // Ours, but too open: tighten rather than refuse, as ssh-agent does for its own directory.
            guard fchmod(fd, 0o700) == 0 else { throw HostError.directory(path, "has group or other permissions") }
        }
    }

    /// Every directory above the host directory, up to the user's home or `/`, must be owned by root or the user
    /// and not writable by others unless sticky (OpenSSH's safe_path rule; writable by a group whose only member is
    /// the user is fine, as Debian's sshd has it): otherwise another user could swap the directory for their own.
    /// The command that starts the helper checks the same before running it; this is the helper's own check.
    static func checkAncestors(of path: String) throws {
        // The part of the path that exists (what is missing, prepare makes below it, 0700).
        var existing = path
        var resolved = "/"
        while existing.count > 1 {
            if let real = realpath(existing, nil) {
                resolved = String(cString: real)
                free(real)
                break
            }
            existing = parent(existing)
        }
        let home = Posix.environment("HOME").flatMap { home -> String? in
            guard let real = realpath(home, nil) else { return nil }
            defer { free(real) }
            return String(cString: real)
        }
        // The host directory's own checks are secureDirectory's; the rule here is for what is above it.
        var ancestor = existing == path ? parent(resolved) : resolved
        while true {
            var info = stat()
            guard lstat(ancestor, &info) == 0 else {
                throw HostError.directory(path, "cannot check \(ancestor), above it: \(String(cString: strerror(errno)))")
            }
            if info.st_uid != 0 && info.st_uid != getuid() {
                throw HostError.directory(path, "\(ancestor), above it, is owned by uid \(info.st_uid) (neither root nor you)")
            }
            if info.st_mode & S_ISVTX == 0 {
                if info.st_mode & 0o002 != 0 {
                    throw HostError.directory(path, "\(ancestor), above it, is writable by others and not sticky")
                }
                if info.st_mode & 0o020 != 0 && !AccountDatabase.isPrivateGroup(info.st_gid) {
                    throw HostError.directory(path, "\(ancestor), above it, is writable by its group, which has members other than you, and not sticky")
                }
            }
            if ancestor == "/" || ancestor == home { return }
            ancestor = parent(ancestor)
        }
    }

    private static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    public func prepare() throws {
        guard base.hasPrefix("/") else {
            throw HostError.directory(base, "is not an absolute path; set PSS_HOST_DIR (or XDG_STATE_HOME) to an absolute path")
        }
        try Self.checkAncestors(of: base)
        for directory in [base, binaries, sessions, runtime] { try Self.secureDirectory(directory) }
    }
}

public enum HostError: Error, CustomStringConvertible {
    case directory(String, String)
    case daemon(String)

    public var description: String {
        switch self {
        case let .directory(path, problem): return "host directory \(path): \(problem)"
        case let .daemon(message): return message
        }
    }
}
