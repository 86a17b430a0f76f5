import Glibc

/// What a signal to pss means while a command's output streams. For a command started here (`invoke`), as
/// Invoke-Command and ssh users expect: the first Ctrl-C is passed on to the command; a second one within a few
/// seconds, or SIGTERM or SIGHUP, detaches from it (the command runs on, the session Disconnected, its output kept
/// for `receive`). For output watched (`receive`), as Receive-Job -Wait, `tail -f` and tmux: every signal stops
/// watching and the command runs on; stopping it is `pss job stop`.
public struct InterruptPolicy: Equatable {
    public enum Action: Equatable {
        /// SIGINT to the remote command.
        case interrupt
        /// Leave the command running and exit as if killed by `signal`.
        case detach(signal: Int32)
    }

    /// How soon a second Ctrl-C must follow the first to detach.
    public static let detachWindow = 3.0

    /// When the last Ctrl-C was passed on, in seconds on a monotonic clock.
    private var lastInterrupt: Double?
    /// Whether a first Ctrl-C reaches the command (else it detaches).
    public let passesInterrupt: Bool

    /// `passesInterrupt`: false for output that is only watched.
    public init(passesInterrupt: Bool = true) {
        self.passesInterrupt = passesInterrupt
    }

    public mutating func action(for signal: Int32, at now: Double) -> Action {
        guard signal == SIGINT, passesInterrupt else { return .detach(signal: signal) }
        if let last = lastInterrupt, now - last <= Self.detachWindow { return .detach(signal: signal) }
        lastInterrupt = now
        return .interrupt
    }
}
