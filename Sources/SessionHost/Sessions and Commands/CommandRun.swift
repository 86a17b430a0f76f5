import Glibc
import SessionWire

/// One command invoked in a session, from its start until its output has been received (or, for a job, until it
/// is removed). Its directory `commands/<n>/` holds the command, the two spools and `job`, its metadata.
final class CommandRun {
    let number: Int
    let directory: String
    let command: String
    let name: String
    /// Started with --as-job: kept until removed.
    let isJob: Bool
    let lock: String
    let startedAt: Int64
    /// Which started later among commands that started in the same second (a count kept by the daemon; 0 for a
    /// command loaded from an earlier daemon).
    var startOrder = 0
    let outputs: [OutputSpool]

    /// Where the daemon writes the client's stdin; -1 when stdin is not forwarded or has ended.
    var stdinPipe: Int32 = -1
    /// Stdin the pipe did not take yet: `stdinBuffer` from `stdinStart` on (consumed bytes are dropped in one move
    /// when all are written, not shifted after each write).
    private var stdinBuffer: [UInt8] = []
    private var stdinStart = 0
    var stdinPending: Int { stdinBuffer.count - stdinStart }
    var stdinEnded = false
    /// The shell's ends of the pipes, held until the shell has opened them (its "started" notice).
    var shellEnds: [Int32] = []
    /// A restricted session's command, run directly: its process (and process group); 0 otherwise.
    var pid: pid_t = 0
    /// Who started it (the real user, for a runAs configuration).
    var user = ""

    /// How it ended (`HostMessage.exited`); nil while it runs, and for ever when its daemon died while it ran.
    var result: HostMessage?
    /// How it ended, while what it wrote is not all in the spool yet (a full disk): `result` once it is.
    var pendingEnd: HostMessage?
    /// The client streaming it was told that the host's disk holds its output back.
    var reportedWriteFailure = false
    /// Since when its output has been held by a full disk with nothing more stored, and how much was stored then
    /// (`HostDaemon.endStalledReceive`).
    var stalledSince: (at: Int64, written: UInt64)?
    var endedAt: Int64 = 0
    /// Loaded from an earlier daemon that died while the command ran: how it ended is not known.
    var endUnknown = false
    var stopped = false
    var timedOut = false
    /// --timeout: when the host ends it (monotonic ms: a whole-second clock could end it almost at once).
    var deadline: Int64?
    /// A signal to send to the command's process group as soon as it has one in the foreground.
    var pendingSignal: Int32?
    /// Where an interrupt (Ctrl-C from the client) stands: its signal not sent yet, sent (the shell may have
    /// abandoned the command's line), or the shell's own end notice typed.
    enum InterruptFollowUp { case none, awaitingSignal, awaitingShell, typed }
    var interruptFollowUp = InterruptFollowUp.none
    /// Its client has a terminal (invoke from one): the command's terminal is shown there, and answered from it.
    var hasTerminal = false
    /// Keys came for it that a transcript kept from its terminal, and the client was told (once).
    var toldKeysNotTaken = false
    /// The last bytes the command wrote to its terminal (a prompt, if it asks for input there).
    var terminalTail: [UInt8] = []
    /// Since when (monotonic ms) it has been seen waiting for input on its terminal, and how often it was answered.
    var terminalWaitSince: Int64?
    var terminalAnswers = 0
    /// TERM was sent: KILL follows at this time.
    var killAt: Int64?
    /// `job stop` requests, answered when the command has ended.
    var stoppers: [ClientLink] = []
    /// Its output was received whole and acknowledged (not a job): deleted once no child holds its streams.
    var delivered = false
    /// A job: how long its output and status are kept after its end while nobody has received them.
    var retentionSeconds = JobRecord.defaultRetentionSeconds
    /// A job whose end a client has received (not `--keep`): only its session's idle timeout keeps it now.
    var received = false

    /// A job that ended and was not received: until when it keeps its session (nil otherwise).
    var keptUntil: Int64? {
        guard isJob, !received, !isRunning, !endUnknown else { return nil }
        return endedAt + Int64(retentionSeconds)
    }

    /// The client streaming this command's output, and whether it stays until the end (`follow`) or leaves once
    /// it has what is there.
    weak var link: ClientLink?
    var follow = true
    /// False for a client that waits only for the end (`job wait`): output is skipped, not sent.
    var sendsOutput = true

    init(number: Int, directory: String, command: String, name: String, isJob: Bool, lock: String, outputs: [OutputSpool]) {
        self.number = number
        self.directory = directory
        self.command = command
        self.name = name
        self.isJob = isJob
        self.lock = lock
        self.outputs = outputs
        startedAt = Posix.now
    }

    /// A command left by an earlier daemon, from its directory; nil when there is nothing to load.
    init?(loading directory: String, number: Int) {
        guard let fields = KeyValueFile.read(directory + "/job") else { return nil }
        self.number = number
        self.directory = directory
        command = fields["command"] ?? ""
        name = fields["name"] ?? "Job\(number)"
        isJob = fields["isJob"] == "1"
        lock = ""
        startedAt = Int64(fields["startedAt"] ?? "") ?? 0
        outputs = [HostMessage.Stream.stdout, .stderr].map { stream in
            let key = stream == .stdout ? "stdout" : "stderr"
            return OutputSpool(
                loading: stream, path: directory + "/" + key,
                acked: UInt64(fields["acked.\(key)"] ?? "") ?? 0,
                droppedUntil: UInt64(fields["dropped.\(key)"] ?? "") ?? 0)
        }
        stopped = fields["stopped"] == "1"
        timedOut = fields["timedOut"] == "1"
        received = fields["received"] == "1"
        if let retention = fields["retentionSeconds"].flatMap({ UInt32($0) }) { retentionSeconds = retention }
        if let status = fields["status"].flatMap({ Int32($0) }) {
            result = .exited(status: status, signal: fields["signal"] ?? "", shellEnded: fields["shellEnded"] == "1")
            endedAt = Int64(fields["endedAt"] ?? "") ?? 0
        } else {
            endUnknown = true
        }
    }

    var isRunning: Bool { result == nil && !endUnknown }

    /// Writes the metadata: at start, at the end, and as acknowledgements arrive.
    func save() {
        var fields: [(String, String)] = [
            ("name", name), ("command", command), ("isJob", isJob ? "1" : "0"),
            ("startedAt", String(startedAt)), ("stopped", stopped ? "1" : "0"),
            ("timedOut", timedOut ? "1" : "0"), ("received", received ? "1" : "0"),
            ("retentionSeconds", String(retentionSeconds)),
        ]
        if case let .exited(status, signal, shellEnded) = result {
            fields += [
                ("status", String(status)), ("signal", signal), ("shellEnded", shellEnded ? "1" : "0"),
                ("endedAt", String(endedAt)),
            ]
        }
        for spool in outputs {
            let key = spool.stream == .stdout ? "stdout" : "stderr"
            fields += [("acked.\(key)", String(spool.acked)), ("dropped.\(key)", String(spool.droppedUntil))]
        }
        savedAt = Posix.now
        lastSaveFailed = (try? KeyValueFile.write(directory + "/job", fields)) == nil
        guard !lastSaveFailed else { return }
        for spool in outputs { spool.savedAcked = spool.acked }
    }

    /// When `save` last tried to write the record, and whether it could not (a full disk: tried again 2 seconds
    /// later, not at each turn of the loop).
    private var savedAt: Int64 = 0
    private var lastSaveFailed = false

    /// Acknowledgements arrive every MiB; the record is rewritten only every 8 MiB of them, or 2 seconds after
    /// the last save (rewriting it at each one was a seventh of the daemon's work on a fast download).
    var acknowledgementsWorthSaving: Bool {
        guard let due = acknowledgementsDueAt else { return false }
        return Posix.now >= due || (!lastSaveFailed && outputs.contains { $0.acked - $0.savedAcked >= 8 << 20 })
    }

    /// When acknowledgements not saved yet are to be saved, if there are any.
    var acknowledgementsDueAt: Int64? {
        outputs.contains { $0.acked > $0.savedAcked } ? savedAt + 2 : nil
    }

    func record(in session: SessionRecord) -> JobRecord {
        var code: Int32?
        if case let .exited(status, _, _) = result { code = status }
        let state: JobRecord.State = isRunning ? .running : stopped ? .stopped : code == 0 ? .completed : .failed
        var record = JobRecord(
            id: String(number), name: name, sessionID: session.id, sessionName: session.name, state: state,
            exitCode: code, command: CommandText.shown(command), startedAt: startedAt, endedAt: endedAt,
            hasMoreData: outputs.contains { $0.unacknowledged > 0 }, isJob: isJob)
        record.keptUntil = keptUntil ?? 0
        return record
    }

    func releaseShellEnds() {
        shellEnds.forEach { Glibc.close($0) }
        shellEnds = []
    }

    /// Lets go of every descriptor of the run (the session is closing, or the command could not start).
    func close() {
        outputs.forEach { $0.closeAll() }
        releaseShellEnds()
        if stdinPipe >= 0 { Glibc.close(stdinPipe); stdinPipe = -1 }
    }

    /// Forwards stdin from the client, written as far as the pipe takes it. When nothing waits before it, the
    /// client's bytes become the buffer (no copy).
    func forwardStdin(_ bytes: [UInt8]) {
        guard stdinPipe >= 0 else { return }
        if stdinPending == 0 {
            stdinBuffer = bytes
            stdinStart = 0
        } else {
            stdinBuffer.append(contentsOf: bytes)
        }
        flushStdin()
    }

    /// The client's stdin ends: what it sent is still written, then the command reads end of file. Also when the
    /// link that forwarded it goes away (a detach, a lost connection): nobody can send the rest, and a command
    /// that waited for it would wait forever, its output never ending.
    func endStdin() {
        stdinEnded = true
        flushStdin()
    }

    /// Writes pending stdin; closes the pipe once stdin has ended and all of it is written.
    func flushStdin() {
        guard stdinPipe >= 0 else { stdinBuffer = []; stdinStart = 0; return }
        while stdinPending > 0 {
            let written = stdinBuffer[stdinStart...].withUnsafeBytes { write(stdinPipe, $0.baseAddress!, $0.count) }
            if written > 0 {
                stdinStart += written
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                return
            } else {
                // The command closed its stdin: what remains cannot be delivered.
                stdinStart = stdinBuffer.count
                stdinEnded = true
            }
        }
        stdinBuffer = []  // let go of the client's frame (no new buffer kept for the next one: it brings its own)
        stdinStart = 0
        if stdinEnded { Glibc.close(stdinPipe); stdinPipe = -1 }
    }

    /// Every byte produced so far has been sent to the client streaming it.
    var isFullySent: Bool { outputs.allSatisfy { $0.sent == $0.written } }
}
