import CLibSSH2
import Glibc

/// How the transport talks to a person: questions, secrets and notices. Without a terminal it must not ask.
public protocol Prompter {
    /// Whether a person can be asked (a controlling terminal exists).
    var isAvailable: Bool { get }
    /// Asks with echo on; nil when nobody can answer.
    func ask(_ question: String) -> String?
    /// Asks with echo off (passwords, passphrases, one-time codes); nil when nobody can answer.
    func readSecret(_ prompt: String) -> Secret?
    /// Tells the user something on stderr, as ssh's warnings.
    func inform(_ message: String)
}

extension Prompter {
    public func inform(_ message: String) {
        let line = message.escapingControlCharacters(keepingNewlines: true) + "\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}

/// Asks on the controlling terminal (`/dev/tty`), as ssh does, so stdin and stdout stay the command's.
/// With no controlling terminal (cron, `setsid`, CI) it is unavailable and never blocks. While echo is off, a
/// signal that ends or stops pss gives the terminal its echo back first, as OpenSSH's readpassphrase does.
public struct TerminalPrompter: Prompter {
    public init() {}

    public var isAvailable: Bool {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    public func ask(_ question: String) -> String? {
        withTerminal(question, echo: true) { String(decoding: $0, as: UTF8.self) }
    }

    public func readSecret(_ prompt: String) -> Secret? {
        withTerminal(prompt, echo: false) { Secret($0) }
    }

    /// The longest line read; the rest of a longer one is discarded.
    static let lineLimit = 1024

    private func withTerminal<T>(_ prompt: String, echo: Bool, _ make: (UnsafeBufferPointer<UInt8>) -> T) -> T? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let shown = prompt.escapingControlCharacters(keepingNewlines: true)
        _ = shown.withCString { write(fd, $0, strlen($0)) }

        var saved = termios()
        let quiet = !echo && tcgetattr(fd, &saved) == 0
        if quiet { EchoGuard.begin(fd: fd, saved: saved) }
        defer { if quiet { EchoGuard.end() } }

        let line = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Self.lineLimit)
        defer { pss_wipe(line.baseAddress, line.count); line.deallocate() }
        var length = 0
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else {
                if length == 0 { return nil }
                break
            }
            if byte == 0x0A { break }
            if length < line.count { line[length] = byte; length += 1 }
        }
        byte = 0
        return make(UnsafeBufferPointer(rebasing: line[0..<length]))
    }
}

/// Echo off on a terminal, undone on every way out: the normal end, and the signals that end or stop pss meanwhile
/// (the handlers restore the terminal, then let the signal do what it would have done).
private enum EchoGuard {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU]

    static func begin(fd: Int32, saved: termios) {
        echoGuardFD = fd
        echoGuardSaved = saved
        echoGuardQuiet = saved
        echoGuardQuiet.c_lflag &= ~tcflag_t(ECHO)
        echoGuardQuiet.c_lflag |= tcflag_t(ECHONL)
        for number in signals {
            // A signal ignored (pss under nohup) stays ignored.
            sigaction(number, nil, &echoGuardPrevious[Int(number)])
            let previous = unsafeBitCast(echoGuardPrevious[Int(number)].__sigaction_handler.sa_handler, to: Int.self)
            guard previous != 1 /* SIG_IGN */ else { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = echoGuardHandler
            sigemptyset(&action.sa_mask)
            sigaction(number, &action, nil)
        }
        tcsetattr(fd, TCSAFLUSH, &echoGuardQuiet)
    }

    static func end() {
        tcsetattr(echoGuardFD, TCSAFLUSH, &echoGuardSaved)
        for number in signals { sigaction(number, &echoGuardPrevious[Int(number)], nil) }
        echoGuardFD = -1
    }
}

// The handler's state: plain globals, set before the handlers are installed (a signal handler may touch nothing
// else).
nonisolated(unsafe) private var echoGuardFD: Int32 = -1
nonisolated(unsafe) private var echoGuardSaved = termios()
nonisolated(unsafe) private var echoGuardQuiet = termios()
nonisolated(unsafe) private var echoGuardPrevious: [sigaction] = Array(repeating: sigaction(), count: 65)

private func echoGuardHandler(_ number: Int32) {
    let saved = errno
    if echoGuardFD >= 0 { tcsetattr(echoGuardFD, TCSAFLUSH, &echoGuardSaved) }
    // Deliver the signal as if pss had not caught it: it ends the process, or stops it until continued.
    var action = sigaction()
    action.__sigaction_handler.sa_handler = SIG_DFL
    sigaction(number, &action, nil)
    var mask = sigset_t()
    sigemptyset(&mask)
    sigaddset(&mask, number)
    sigprocmask(SIG_UNBLOCK, &mask, nil)
    raise(number)
    // Continued after a stop: the handler back, and echo off again.
    action.__sigaction_handler.sa_handler = echoGuardHandler
    sigaction(number, &action, nil)
    if echoGuardFD >= 0 { tcsetattr(echoGuardFD, TCSAFLUSH, &echoGuardQuiet) }
    errno = saved
}

/// For BatchMode: nobody is asked anything.
public struct NoPrompter: Prompter {
    public init() {}
    public var isAvailable: Bool { false }
    public func ask(_ question: String) -> String? { nil }
    public func readSecret(_ prompt: String) -> Secret? { nil }
}
