import Glibc
import SessionWire

/// A session as the daemon holds it: its record, its shell, its commands (the one running, and those whose output
/// or status is still kept), and invokes waiting.
final class HostedSession {
    struct WaitingInvoke {
        var link: ClientLink
        var invocation: ClientMessage.Invocation
        var deadline: Int64
    }

    /// How long a command waits, at least, for a new shell to read the login files.
    static let startupWaitSeconds: Int64 = 60

    var record: SessionRecord
    let directory: String
    var shell: SessionShell? {
        // What the terminal showed before a line the daemon types for itself is taken in first.
        didSet {
            shell?.beforePlumbing = { [unowned self] in
                var buffer = [UInt8](repeating: 0, count: 16 << 10)
                self.drainTerminal(using: &buffer)
            }
        }
    }
    /// The command running now.
    var run: CommandRun?
    /// Every command kept, oldest first: running, finished with output not yet received, jobs.
    var runs: [CommandRun] = []
    var waiting: [WaitingInvoke] = []
    var nextCommand = 1
    /// When the idle clock last started (nothing running, no client attached).
    var idleSince: Int64
    /// The terminal's log; -1 when it cannot be opened (the session still works, unlogged).
    let ptyLog: Int32
    /// Its shells read the user's login files first (not for `--no-profile`, nor invoke --host's sessions).
    var loadsProfile = false
    /// The client entered in the session's terminal (`pss enter`), if one is: the session is busy meanwhile.
    weak var enteredLink: ClientLink?
    /// What the entered user has typed on the line at the shell's own prompt (a count; 0: an empty line, where
    /// Ctrl-D leaves the session, as `exit` does).
    var typedOnLine = 0
    /// What the entered user typed since the last line's end, for the transcript; nil once part of it was typed
    /// with echo off (a password: never recorded).
    var transcriptLine: [UInt8]? = []
    /// The entered client's stream of keys (its id), and how many bytes of it were typed into the terminal.
    var keyStream = ""
    var keysTaken: UInt64 = 0
    /// No command is typed before this time (monotonic ms): the shell is still throwing away a line a user left.
    var settledAt: Int64 = 0
    /// The entered user's terminal type, for the prompt they get once a running command ends.
    var enteredTerm = "xterm"

    /// A new session's directory is empty; one left by an earlier daemon is loaded as far as it can be. Nothing in
    /// it can stop the daemon: a command directory that is not a plain number is left alone (and logged), so the
    /// session is shown, Broken, and can be removed.
    init(record: SessionRecord, directory: String) {
        self.record = record
        self.directory = directory
        idleSince = Posix.now
        ptyLog = open(directory + "/pty.log", O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        var numbers: [Int] = []
        for name in Posix.directoryEntries(directory + "/commands") {
            if let number = Self.commandNumber(name) {
                numbers.append(number)
            } else {
                HostDaemon.log("\(directory)/commands/\(name.debugDescription): not a command number; left alone")
            }
        }
        numbers.sort()
        runs = numbers.compactMap { CommandRun(loading: directory + "/commands/\($0)", number: $0) }
        nextCommand = (numbers.last ?? 0) + 1
    }

    /// The largest command number a session has: numbers stay far from overflow whatever is on disk.
    static let maximumCommandNumber = 999_999_999

    /// A command directory's number: decimal digits without a leading zero, at most `maximumCommandNumber`.
    static func commandNumber(_ name: String) -> Int? {
        guard let first = name.utf8.first, first != UInt8(ascii: "0"), name.utf8.count <= 9,
            name.utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else { return nil }
        return Int(name)
    }

    /// A command by number or name (the latest of that name); the latest command when `reference` is empty.
    func findRun(_ reference: String) -> CommandRun? {
        if reference.isEmpty { return runs.last }
        if let number = Int(reference) { return runs.first { $0.number == number } }
        return runs.last { $0.name == reference }
    }

    func forget(_ run: CommandRun) {
        run.close()
        Posix.removeTree(run.directory)
        runs.removeAll { $0 === run }
    }

    /// Nothing runs, nobody waits, no client is streaming output: the idle clock runs.
    var isIdle: Bool { run == nil && waiting.isEmpty && enteredLink == nil && runs.allSatisfy { $0.link == nil } }

    /// When the idle clock closes this session, or nil while it does not run. A job that ended unreceived keeps
    /// it for the job's retention from its end, when that is later (a cron job's output waits to be collected).
    var expiresAt: Int64? {
        guard isIdle, record.state != .broken else { return nil }
        return max(idleSince + Int64(record.idleTimeoutSeconds), runs.compactMap(\.keptUntil).max() ?? 0)
    }

    /// Why the idle clock closes it at `expiresAt`, for the record of what expired.
    var expiryReason: String {
        let idle = "idle for its idle timeout (\(Posix.describeDuration(record.idleTimeoutSeconds)))"
        guard let job = runs.filter({ $0.keptUntil != nil }).max(by: { $0.keptUntil! < $1.keptUntil! }),
            job.keptUntil! > idleSince + Int64(record.idleTimeoutSeconds)
        else { return idle }
        return "job '\(job.name)' was not received within its retention (\(Posix.describeDuration(job.retentionSeconds)) after it ended)"
    }

    var snapshot: SessionRecord {
        var copy = record
        copy.expiresAt = expiresAt ?? 0
        copy.command = CommandText.shown(copy.command)
        return copy
    }

    /// Moves the PTY's output (prompts, job notices, anything written to /dev/tty) into the session's log.
    func drainTerminal(using buffer: inout [UInt8]) {
        guard let shell else { return }
        while true {
            let count = read(shell.master, &buffer, buffer.count)
            if count > 0 {
                // The daemon's own lines are nobody's output.
                let shown = shell.withoutPlumbing(buffer[0..<count])
                if shown.isEmpty { continue }
                if ptyLog >= 0 { _ = Posix.writeAll(ptyLog, shown) }
                if let link = enteredLink, !link.isClosed { link.send(.terminalOutput(shown[...])) }
                if let run, run.hasTerminal, let link = run.link, !link.isClosed { link.send(.terminalOutput(shown[...])) }
                if let run, run.isRunning { run.terminalTail = Array((run.terminalTail + shown).suffix(256)) }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            break
        }
    }

    /// The end of the terminal's log, from a line's start: at most the last `rows` lines of the last 64 KiB, what
    /// a user entering sees first (what ran while nobody was entered included).
    func recentTerminalOutput(rows: Int) -> [UInt8] {
        let fd = open(directory + "/pty.log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return [] }
        let length = min(Int(info.st_size), 64 * 1024)
        var tail = [UInt8](repeating: 0, count: length)
        let count = pread(fd, &tail, length, off_t(Int(info.st_size) - length))
        guard count > 0 else { return [] }
        tail.removeSubrange(count...)
        var start = tail.endIndex, lines = 0
        while start > tail.startIndex, lines <= rows {
            start -= 1
            if tail[start] == 0x0A { lines += 1 }
        }
        if lines > rows { start += 1 }  // from just after the newline that ends the line before
        return Array(tail[start...])
    }

    func close() {
        shell?.terminate()
        for run in runs where run.pid > 0 { kill(-run.pid, SIGKILL) }  // a restricted session's command (reaped by the daemon)
        shell = nil
        runs.forEach { $0.close() }
        runs = []
        run = nil
        if ptyLog >= 0 { Glibc.close(ptyLog) }
    }
}
