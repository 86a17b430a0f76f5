import Glibc
import SessionWire

/// A session as the daemon holds it: its record, its shell, the command running in it, and invokes waiting.
final class HostedSession {
    struct WaitingInvoke {
        var link: ClientLink
        var command: String
        var forwardStdin: Bool
        var deadline: Int64
    }

    var record: SessionRecord
    let directory: String
    var shell: SessionShell?
    var run: CommandRun?
    /// Streams of finished commands that background children still hold open; drained into their spools.
    var lingering: [OutputSpool] = []
    var waiting: [WaitingInvoke] = []
    var nextCommand = 1
    /// When the idle clock last started (nothing running, no client attached).
    var idleSince: Int64
    let ptyLog: Int32

    init(record: SessionRecord, directory: String) throws {
        self.record = record
        self.directory = directory
        idleSince = Posix.now
        ptyLog = open(directory + "/pty.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        try Posix.check(ptyLog, "create \(directory)/pty.log")
        nextCommand = (Posix.directoryEntries(directory + "/commands").compactMap { Int($0) }.max() ?? 0) + 1
    }

    var isIdle: Bool { run == nil && waiting.isEmpty }

    /// When the idle clock closes this session, or nil while it does not run.
    var expiresAt: Int64? {
        guard isIdle, record.state != .broken else { return nil }
        return idleSince + Int64(record.idleTimeoutSeconds)
    }

    var snapshot: SessionRecord {
        var copy = record
        copy.expiresAt = expiresAt ?? 0
        return copy
    }

    /// Moves the PTY's output (prompts, job notices, anything written to /dev/tty) into the session's log.
    func drainTerminal(using buffer: inout [UInt8]) {
        guard let shell else { return }
        while true {
            let count = read(shell.master, &buffer, buffer.count)
            if count > 0 { _ = Posix.writeAll(ptyLog, Array(buffer[0..<count])); continue }
            if count < 0 && errno == EINTR { continue }
            break
        }
    }

    func close() {
        shell?.terminate()
        shell = nil
        run?.close()
        run = nil
        lingering.forEach { $0.closeAll() }
        lingering = []
        Glibc.close(ptyLog)
    }
}
