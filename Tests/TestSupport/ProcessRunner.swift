import Foundation
import Glibc

/// The result of running a program to its end.
public struct ProcessResult: CustomStringConvertible {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data
    public var timedOut: Bool

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }

    public var description: String {
        "status \(status)\(timedOut ? " (killed: timed out)" : "")\nstdout: \(stdoutText.prefix(2000))\nstderr: \(stderrText.prefix(2000))"
    }
}

/// Runs programs the way cron would: in a new session (so there is no controlling terminal and nothing can
/// prompt), with a given environment and stdin, output captured. A limit guards against hangs: a program still
/// running then is killed and the result says so.
public enum ProcessRunner {
    private static let startLock = NSLock()

    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        stdin: Data? = nil, limit: Double = 60
    ) -> ProcessResult {
        let process = try! start(executable, arguments, environment: environment, stdinData: stdin)
        return process.wait(limit: limit)
    }

    /// Starts a program; with `stdoutFile`, its stdout goes to that file (which a test can watch grow) instead
    /// of being gathered by `wait`.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        stdinData: Data? = nil, stdinFile: String? = nil, stdoutFile: String? = nil
    ) throws -> RunningProcess {
        signal(SIGPIPE, SIG_IGN)  // a child may exit before reading all its stdin
        // One start at a time: pipes are made close-on-exec a moment after they are made, and a program another
        // thread started in that moment would hold them (and the test wait for its end).
        startLock.lock()
        defer { startLock.unlock() }
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        makePipe(&stdinPipe); makePipe(&stdoutPipe); makePipe(&stderrPipe)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdinFile {
            posix_spawn_file_actions_addopen(&actions, 0, stdinFile, O_RDONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        }
        if let stdoutFile {
            posix_spawn_file_actions_addopen(&actions, 1, stdoutFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        }
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(posixSpawnSetsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "SSH_AUTH_SOCK")
        for (key, value) in environment { merged[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }

        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(stdinPipe[0]); close(stdoutPipe[1]); close(stderrPipe[1])
        guard status == 0 else {
            close(stdinPipe[1]); close(stdoutPipe[0]); close(stderrPipe[0])
            throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EINVAL)
        }
        return RunningProcess(pid: pid, stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0], stdinData: stdinData)
    }
}

/// A started program: feed and drain it with `wait`, or signal it first.
public final class RunningProcess {
    public let pid: pid_t
    private var stdinDescriptor: Int32
    private let stdoutDescriptor: Int32
    private let stderrDescriptor: Int32
    private var stdinData: Data?
    private var stdout = Data()
    private var stderr = Data()

    init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32, stdinData: Data?) {
        self.pid = pid
        self.stdinDescriptor = stdin
        self.stdoutDescriptor = stdout
        self.stderrDescriptor = stderr
        self.stdinData = stdinData
        _ = fcntl(stdin, F_SETFL, fcntl(stdin, F_GETFL) | O_NONBLOCK)
        if stdinData == nil { close(stdin); stdinDescriptor = -1 }
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Reads output until the program ends, or kills its process group once `limit` seconds pass.
    public func wait(limit: Double = 60) -> ProcessResult {
        let deadline = Date().addingTimeInterval(limit)
        var open = [stdoutDescriptor, stderrDescriptor]
        var timedOut = false
        var sent = 0
        while !open.isEmpty {
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if stdinDescriptor >= 0 { descriptors.append(pollfd(fd: stdinDescriptor, events: Int16(POLLOUT), revents: 0)) }
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            if poll(&descriptors, nfds_t(descriptors.count), remaining) == 0 {
                timedOut = true
                kill(-pid, SIGKILL); kill(pid, SIGKILL)
                break
            }
            for descriptor in descriptors where descriptor.revents != 0 {
                if descriptor.fd == stdinDescriptor {
                    let data = stdinData ?? Data()
                    let written = data.withUnsafeBytes { write(stdinDescriptor, $0.baseAddress! + sent, data.count - sent) }
                    if written > 0 { sent += written }
                    if written < 0 && errno != EAGAIN || sent >= data.count { close(stdinDescriptor); stdinDescriptor = -1 }
                    continue
                }
                var buffer = [UInt8](repeating: 0, count: 65536)
                let count = read(descriptor.fd, &buffer, buffer.count)
                if count > 0 {
                    if descriptor.fd == stdoutDescriptor { stdout.append(contentsOf: buffer[0..<count]) } else { stderr.append(contentsOf: buffer[0..<count]) }
                } else if count == 0 || errno != EINTR {
                    open.removeAll { $0 == descriptor.fd }
                    close(descriptor.fd)
                }
            }
        }
        open.forEach { close($0) }
        if stdinDescriptor >= 0 { close(stdinDescriptor) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessResult(status: code, stdout: stdout, stderr: stderr, timedOut: timedOut)
    }
}

/// Runs a shell command line for fixture setup, failing loudly if it fails.
@discardableResult
public func shell(_ command: String, limit: Double = 60) -> ProcessResult {
    let result = ProcessRunner.run("/bin/sh", ["-c", command], limit: limit)
    precondition(result.status == 0, "setup command failed: \(command)\n\(result)")
    return result
}

/// glibc's POSIX_SPAWN_SETSID (a GNU extension the Glibc module does not export).
private let posixSpawnSetsid: Int32 = 0x80

/// A pipe whose ends are not inherited by other children (pipe2 is not exported either).
func makePipe(_ ends: inout [Int32]) {
    precondition(pipe(&ends) == 0)
    for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
}
