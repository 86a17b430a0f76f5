import Glibc

/// The owner and permission checks OpenSSH makes before it trusts a local file, and the same kind of checks on pss's
/// own state: a file another user could have written is never read as configuration, keys or state.
public enum FileSafety {
    /// A file or directory refused for its owner or mode, worded as ssh words it.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public var path: String
        public var reason: String

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }

        public var description: String { "Bad owner or permissions on \(path): \(reason)" }
    }

    /// ssh_config files read for the user (~/.ssh/config and every file it includes): owned by root or the user, and
    /// not writable by group or others (OpenSSH's readconf check). A missing file is not refused here.
    public static func checkConfigFile(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        if info.st_uid != 0 && info.st_uid != getuid() {
            throw Refusal(path: path, reason: "owned by uid \(info.st_uid), not by you or root")
        }
        if info.st_mode & 0o022 != 0 {
            throw Refusal(path: path, reason: "writable by \(writers(info.st_mode)) (mode \(octal(info.st_mode)))")
        }
    }

    /// ssh's rule for private keys: one owned by the user that group or others may access is ignored. Returns the
    /// too-open mode, or nil when the key may be used.
    public static func unprotectedKeyMode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_uid == getuid(), info.st_mode & 0o077 != 0 else { return nil }
        return info.st_mode & 0o777
    }

    /// A file holding a secret (`--password-file`) that group or others may read or write: its mode, else nil.
    public static func unprotectedSecretFileMode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 != 0 else { return nil }
        return info.st_mode & 0o777
    }

    /// A directory pss keeps its own state in: a directory (symlinks are followed to it), owned by the user, not
    /// writable by group or others.
    public static func checkPrivateDirectory(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Refusal(path: path, reason: String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw Refusal(path: path, reason: "not a directory") }
        try checkOwnedAndPrivate(info, path)
    }

    /// Opens one of pss's own state files for reading: not a symlink, owned by the user, not writable by group or
    /// others. Nil when it does not exist.
    public static func openPrivateFile(_ path: String) throws -> Int32? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            if errno == ELOOP { throw Refusal(path: path, reason: "a symbolic link") }
            throw Refusal(path: path, reason: String(cString: strerror(errno)))
        }
        var info = stat()
        fstat(fd, &info)
        do {
            guard info.st_mode & S_IFMT == S_IFREG else { throw Refusal(path: path, reason: "not a regular file") }
            try checkOwnedAndPrivate(info, path)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// The contents of one of pss's own state files (nil when it does not exist), read after `openPrivateFile`'s
    /// checks, at most `limit` bytes.
    public static func readPrivateFile(_ path: String, limit: Int = 16 << 20) throws -> [UInt8]? {
        guard let fd = try openPrivateFile(path) else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let count = read(fd, &chunk, min(chunk.count, limit - bytes.count))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    private static func checkOwnedAndPrivate(_ info: stat, _ path: String) throws {
        if info.st_uid != getuid() {
            throw Refusal(path: path, reason: "owned by uid \(info.st_uid), not by you")
        }
        if info.st_mode & 0o022 != 0 {
            throw Refusal(path: path, reason: "writable by \(writers(info.st_mode)) (mode \(octal(info.st_mode)))")
        }
    }

    static func writers(_ mode: mode_t) -> String {
        switch (mode & 0o020 != 0, mode & 0o002 != 0) {
        case (true, true): return "group and others"
        case (true, false): return "group"
        default: return "others"
        }
    }

    public static func octal(_ mode: mode_t) -> String {
        "0" + String(mode & 0o7777, radix: 8)
    }
}
