import Glibc

/// SIGINT, SIGTERM and SIGHUP (and for `enter`, SIGWINCH) as input to a poll loop: while armed, their handler writes the
/// signal's number to a pipe the loop watches, so they are decided on (`InterruptPolicy`) instead of ending pss.
/// Disarmed, each does what it did before (a Ctrl-C while connecting ends pss, as it always did).
public final class StreamSignals {
    nonisolated(unsafe) public static let shared = StreamSignals()  // signal dispositions are process-wide: one owner
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// The pipe's read end, for poll().
    public let descriptor: Int32
    private var previous: [Int32: sigaction] = [:]

    private init() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { fatalError("pipe: \(errno)") }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        descriptor = ends[0]
        streamSignalsWriteEnd = ends[1]
    }

    /// Takes the signals over (and `extra` ones, such as SIGWINCH); a signal pss was started ignoring stays
    /// ignored (nohup).
    public func arm(adding extra: [Int32] = []) {
        guard previous.isEmpty else { return }
        for number in Self.signals + extra {
            var old = sigaction()
            sigaction(number, nil, &old)
            if unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = streamSignalHandler
            action.sa_flags = SA_RESTART
            sigaction(number, &action, nil)
            previous[number] = old
        }
    }

    /// Gives the signals back as they were.
    public func disarm() {
        for (number, var old) in previous { sigaction(number, &old, nil) }
        previous = [:]
    }

    /// Delivers `signal` as if it had come, when armed (a key that stands for it, typed in raw mode).
    public func raise(_ signal: Int32) {
        guard !previous.isEmpty else { return }
        streamSignalHandler(signal)
    }

    /// The signals received since the last call, in order.
    public func take() -> [Int32] {
        var bytes = [UInt8](repeating: 0, count: 64)
        var taken: [Int32] = []
        while true {
            let count = read(descriptor, &bytes, bytes.count)
            guard count > 0 else { return taken }
            taken += bytes[0..<count].map { Int32($0) }
        }
    }
}

nonisolated(unsafe) private var streamSignalsWriteEnd: Int32 = -1

private func streamSignalHandler(_ number: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(streamSignalsWriteEnd, &byte, 1)
    errno = saved
}
