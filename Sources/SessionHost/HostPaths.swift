import Glibc
import SessionWire

/// Where the helper keeps everything on a host: `$PSS_HOST_DIR`, else `${XDG_STATE_HOME:-~/.local/state}/pss-host`.
///
///     bin/pss-host-<sha256 prefix>   helper binaries, by content
///     sessions/<id>/                 one directory per session: its record, PTY log, commands and their spools
///     run/daemon-v<N>.sock           the daemon's socket, in a 0700 directory checked before every use
public struct HostPaths {
    public let base: String

    public init() {
        self.init(environment: { getenv($0).map { String(cString: $0) } })
    }

    init(environment: (String) -> String?) {
        if let explicit = environment("PSS_HOST_DIR"), !explicit.isEmpty {
            base = explicit
        } else {
            let state = environment("XDG_STATE_HOME").flatMap { $0.isEmpty ? nil : $0 }
                ?? (environment("HOME") ?? "/") + "/.local/state"
            base = state + "/pss-host"
        }
    }

    public var binaries: String { base + "/bin" }
    public var sessions: String { base + "/sessions" }
    public var runtime: String { base + "/run" }
    public var socket: String { runtime + "/daemon-v\(WireProtocol.version).sock" }
    public var lock: String { runtime + "/daemon.lock" }
    public func session(_ id: String) -> String { sessions + "/" + id }

    /// Creates `path` (and its parents) as 0700 if missing, then checks it as DESIGN.md requires: a real directory
    /// (not a symlink), owned by this user, with no group or other permissions.
    public static func secureDirectory(_ path: String) throws {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw HostError.directory(path, "cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw HostError.directory(path, String(cString: strerror(errno)))
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw HostError.directory(path, "is not a directory (or is a symlink)") }
        guard info.st_uid == getuid() else { throw HostError.directory(path, "is owned by another user") }
        if info.st_mode & 0o077 != 0 {
            // Ours, but too open: tighten rather than refuse, as ssh-agent does for its own directory.
            guard chmod(path, 0o700) == 0 else { throw HostError.directory(path, "has group or other permissions") }
        }
    }

    public func prepare() throws {
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
