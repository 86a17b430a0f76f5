import Glibc

/// How a remote command ended.
public enum ExitStatus: Equatable, Sendable {
    case exited(Int32)
    /// Killed by a signal, named as SSH sends it (`TERM`, `KILL`, ...).
    case signaled(String)

    /// The status a shell would give: the code, or 128 + the signal's number.
    public var shellStatus: Int32 {
        switch self {
        case let .exited(code): return code
        case let .signaled(name): return 128 + (ExitStatus.signalNumbers[name] ?? 0)
        }
    }

    static let signalNumbers: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV, "USR2": SIGUSR2,
        "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "XCPU": SIGXCPU, "XFSZ": SIGXFSZ,
    ]
}
