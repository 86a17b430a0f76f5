import Glibc
import SessionWire

/// The few POSIX operations the host side needs, over Glibc (the helper stays out of Foundation).
enum Posix {
    struct Failure: Error, CustomStringConvertible {
        var operation: String
        var code: Int32
        var description: String { "\(operation): \(String(cString: strerror(code)))" }
    }

    static func check(_ result: Int32, _ operation: @autoclosure () -> String) throws {
        if result < 0 { throw Failure(operation: operation(), code: errno) }
    }

    static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Best effort: the system's pipe-max-size, or the user's pipe-user-pages-soft, may refuse it.
    static func setPipeSize(_ fd: Int32, _ bytes: Int32) {
        _ = fcntl(fd, 1031 /* F_SETPIPE_SZ */, bytes)
    }

    static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// A pipe whose ends are close-on-exec (children get them only through explicit redirection).
    static func pipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        try check(Glibc.pipe(&ends), "pipe")
        setCloseOnExec(ends[0]); setCloseOnExec(ends[1])
        return (ends[0], ends[1])
    }

    /// A file's device, inode, change time and size: what tells that it was replaced or changed (empty: no file).
    static func fileStamp(_ path: String) -> [Int] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        return [
            Int(info.st_dev), Int(info.st_ino), info.st_mtim.tv_sec, info.st_mtim.tv_nsec, info.st_ctim.tv_sec, info.st_ctim.tv_nsec,
            Int(info.st_size),
        ]
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    /// A regular file's contents (not through a symlink, unless `followingLink`); nil when it cannot be read or
    /// holds more than `limit`.
    static func readFile(_ path: String, limit: Int = .max, followingLink: Bool = false) -> [UInt8]? {
        let fd = open(path, O_RDONLY | (followingLink ? 0 : O_NOFOLLOW) | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) <= limit else { return nil }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? result : nil }
            result.append(contentsOf: buffer[0..<count])
            if result.count > limit { return nil }
        }
    }

    /// Writes through a temporary file and rename, so a reader never sees half a file.
    static func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws {
        let temporary = path + ".tmp"
        unlink(temporary)  // a new file of ours, never one planted there (a hard link would be written through)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        try check(fd, "create \(temporary)")
        fchmod(fd, mode)  // exactly `mode`, whatever the umask
        let ok = writeAll(fd, bytes)
        let code = errno
        close(fd)
        guard ok else { unlink(temporary); throw Failure(operation: "write \(temporary)", code: code) }
        try check(rename(temporary, path), "rename \(temporary)")
    }

    /// Removes a directory tree, never following a symlink: each directory is opened with O_NOFOLLOW and emptied
    /// through its descriptor (openat/unlinkat), so a directory swapped for a symlink meanwhile loses only the link.
    static func removeTree(_ path: String) {
        if unlink(path) == 0 || errno == ENOENT { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        removeContents(of: fd)
        close(fd)
        rmdir(path)
    }

    private static func removeContents(of directory: Int32) {
        let copy = fcntl(directory, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0, let stream = fdopendir(copy) else { if copy >= 0 { close(copy) }; return }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(stream)
        for name in names where unlinkat(directory, name, 0) != 0 && (errno == EISDIR || errno == EPERM) {
            let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { continue }
            removeContents(of: child)
            close(child)
            unlinkat(directory, name, AT_REMOVEDIR)
        }
    }

    static func directoryEntries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Bytes from the kernel's random source; throws rather than hand out predictable ids or tokens.
    static func randomBytes(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { glibcGetrandom($0.baseAddress! + filled, count - filled, 0) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw Failure(operation: "reading random bytes", code: got < 0 ? errno : EIO) }
            filled += got
        }
        return bytes
    }

    /// A random (version 4) UUID, lower case.
    static func uuid() throws -> String {
        var bytes = try randomBytes(16)
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        return [0..<4, 4..<6, 6..<8, 8..<10, 10..<16].map { Hex.string(bytes[$0]) }.joined(separator: "-")
    }

    /// What a spawned program finds at a descriptor: a file opened for it, or a copy of one of ours.
    enum SpawnedDescriptor {
        case open(String, flags: Int32, mode: mode_t = 0)
        case copy(Int32)
    }

    /// Starts `path` as the leader of a new process session (setsid), with the signal mask and dispositions
    /// reset, and `descriptors[i]` as its descriptor i (the rest of ours are close-on-exec). Files are opened
    /// after setsid, so a terminal opened for descriptor 0 becomes the program's controlling terminal.
    static func spawnInNewSession(
        _ path: String, arguments: [String], environment: [String]? = nil,
        descriptors: [SpawnedDescriptor]
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, descriptor) in descriptors.enumerated() {
            switch descriptor {
            case let .open(file, flags, mode): posix_spawn_file_actions_addopen(&actions, Int32(target), file, flags, mode)
            case let .copy(source): posix_spawn_file_actions_adddup2(&actions, source, Int32(target))
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID, a GNU extension the Glibc module does not export
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)

        let argv = arguments.map { strdup($0) } + [nil]
        var envp = (environment ?? []).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let status =
            environment == nil
            ? posix_spawn(&pid, path, &actions, &attributes, argv, environ)
            : posix_spawn(&pid, path, &actions, &attributes, argv, &envp)
        guard status == 0 else { throw Failure(operation: "starting \(path)", code: status) }
        return pid
    }

    static var now: Int64 { Int64(time(nil)) }

    /// Now, as the daemon's log and the transcripts write it: `2026-11-26T12:00:00Z`.
    static var timestamp: String { timestamp(of: now) }

    /// A time (seconds since the epoch) as the log writes it.
    static func timestamp(of seconds: Int64) -> String {
        var now = time_t(seconds)
        var parts = tm()
        gmtime_r(&now, &parts)
        var text = [CChar](repeating: 0, count: 32)
        let count = strftime(&text, text.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: text.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A duration as the options take it: `7d`, `2h`, `1h30m`, `90s`.
    static func describeDuration(_ seconds: UInt32) -> String {
        guard seconds > 0 else { return "0s" }
        var rest = seconds
        var text = ""
        for (unit, size) in [("d", UInt32(86400)), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }

    /// The fields of /proc/PID/stat after the command name (which may hold spaces or parentheses): the state
    /// first, then the parent, the process group, the session...; nil when the process is gone.
    static func processStat(_ pid: pid_t) -> [Substring]? {
        guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")),
            close + 2 < stat.count
        else { return nil }
        return String(decoding: stat[(close + 2)...], as: UTF8.self).split(separator: " ")
    }

    /// A monotonic clock in milliseconds, for waits shorter than a second.
    static var milliseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    static var userName: String {
        AccountDatabase.current?.name ?? String(getuid())
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

// Glibc functions that its Swift module hides behind _GNU_SOURCE (plain C calls, declared by symbol).
@_silgen_name("splice")
func glibcSplice(
    _ input: Int32, _ inputOffset: UnsafeMutablePointer<Int64>?, _ output: Int32, _ outputOffset: UnsafeMutablePointer<Int64>?, _ count: Int, _ flags: UInt32
) -> Int
/// splice(2)'s flag: the pipe is not waited on.
let spliceNonBlocking: UInt32 = 2
@_silgen_name("fallocate")
func glibcFallocate(_ fd: Int32, _ mode: Int32, _ offset: off_t, _ length: off_t) -> Int32
@_silgen_name("getrandom")
func glibcGetrandom(_ buffer: UnsafeMutableRawPointer, _ count: Int, _ flags: UInt32) -> Int
