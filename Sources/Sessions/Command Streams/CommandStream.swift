import SessionWire
import SSHClient

/// A command's output on its way to this client: where it goes, how far it has come, and what is needed to resume
/// it on a new connection (the session, the job, the offsets received).
public final class CommandStream {
    public enum End: Equatable {
        /// The command ended: its exit code or the signal that killed it; `shellEnded` when it ended the session's
        /// shell too.
        case exited(status: Int32, signal: String, shellEnded: Bool)
        /// Everything there is so far was received; the command still runs (a receive that does not follow).
        case pending(JobRecord)
    }

    public private(set) var session: SessionRecord?
    public private(set) var job: JobRecord?
    public private(set) var received = StreamOffsets()
    private var acknowledged = StreamOffsets()
    /// Bytes the host discarded (drop buffering) before this client got them.
    public private(set) var dropped = StreamOffsets()
    let stdout: ByteSink
    let stderr: ByteSink
    /// Tells the host what was received, so it may let it go (false for `receive --keep`).
    let acknowledges: Bool
    /// False when only the command's end matters (`job wait`): a resumed stream asks for no output either.
    let wantsOutput: Bool
    /// Hears the host's notices while the command streams (a full disk holding its output).
    public var noticeHandler: ((String) -> Void)?
    /// Set when Ctrl-C, SIGTERM and SIGHUP act on the command (`invoke`, `receive`); nil leaves them as they are.
    public var interrupts: InterruptPolicy?
    /// Interrupts and detaches decided elsewhere (a fan-out's signals, for all its targets at once).
    public var control: StreamControl?
    /// The user's terminal, for a command invoked from one: keys are read from `terminalInput` (in raw mode: a
    /// Ctrl-C there is the byte 0x03, taken as Ctrl-C), and what the command writes to its terminal goes to
    /// `terminalOutput`.
    public var terminalInput: Int32?
    public var terminalOutput: ByteSink?
    /// Hears that the command started (the terminal goes raw then, not while connecting: a passphrase prompt
    /// reads lines).
    public var startedHandler: (() -> Void)?

    public init(stdout: ByteSink, stderr: ByteSink, acknowledges: Bool = true, wantsOutput: Bool = true) {
        self.stdout = stdout
        self.stderr = stderr
        self.acknowledges = acknowledges
        self.wantsOutput = wantsOutput
    }

    /// The request that resumes this stream on a new connection, once the host has said which command it is: the
    /// first request's `follow` and `take`, from the offsets received.
    func resumeRequest(after first: ClientMessage) -> ClientMessage? {
        guard let session, let job else { return nil }
        var follow = true, take = true
        if case let .receive(_, _, _, firstFollow, firstTake) = first { (follow, take) = (firstFollow, firstTake) }
        return .receive(session: session.id, job: job.id, from: wantsOutput ? received : .end, follow: follow, take: take)
    }

    func notify(_ text: String) {
        noticeHandler?(text)
    }

    func started(_ session: SessionRecord, _ job: JobRecord, from: StreamOffsets) {
        startedHandler?()
        self.session = session
        self.job = job
        // A receive starts where the host has it acknowledged; a resumed one where this client stopped.
        for stream in [HostMessage.Stream.stdout, .stderr] where received[stream] < from[stream] {
            received[stream] = from[stream]
            acknowledged[stream] = from[stream]
        }
    }

    /// Writes what is new in an output frame: offsets make a repeated chunk harmless.
    func output(_ stream: HostMessage.Stream, offset: UInt64, _ bytes: ArraySlice<UInt8>) throws {
        let have = received[stream]
        let end = offset + UInt64(bytes.count)
        guard end > have else { return }
        let skip = Int(have > offset ? have - offset : 0)
        try bytes.dropFirst(skip).withUnsafeBytes { try (stream == .stdout ? stdout : stderr).write($0) }
        received[stream] = end
    }

    func dropped(_ stream: HostMessage.Stream, from: UInt64, to: UInt64) {
        guard to > received[stream] else { return }
        dropped[stream] += to - max(from, received[stream])
        received[stream] = to
    }

    /// The acknowledgement to send now, if enough arrived since the last one (or the end did, or `now`).
    func acknowledgement(complete: Bool, now: Bool = false) -> ClientMessage? {
        guard acknowledges, let session, let job else { return nil }
        let interval = min(UInt64(1 << 20), max(session.maxBuffer / 2, 1))
        let fresh = (received.stdout - acknowledged.stdout) + (received.stderr - acknowledged.stderr)
        guard complete || now || fresh >= interval else { return nil }
        acknowledged = received
        return .ack(session: session.id, job: job.id, received: received, complete: complete)
    }
}
