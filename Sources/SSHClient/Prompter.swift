import Glibc

/// How the transport talks to a person: questions, secrets and notices. Without a terminal it must not ask.
public protocol Prompter {
    /// Whether a person can be asked (a controlling terminal exists).
    var isAvailable: Bool { get }
    /// Asks with echo on; nil when nobody can answer.
    func ask(_ question: String) -> String?
    /// Asks with echo off (passwords, passphrases); nil when nobody can answer.
    func readSecret(_ prompt: String) -> String?
    /// Tells the user something on stderr, as ssh's warnings.
    func inform(_ message: String)
}

extension Prompter {
    public func inform(_ message: String) {
        let line = message + "\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}

/// Asks on the controlling terminal (`/dev/tty`), as ssh does, so stdin and stdout stay the command's.
/// With no controlling terminal (cron, `setsid`, CI) it is unavailable and never blocks.
public struct TerminalPrompter: Prompter {
    public init() {}

    public var isAvailable: Bool {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    public func ask(_ question: String) -> String? {
        withTerminal(question, echo: true)
    }

    public func readSecret(_ prompt: String) -> String? {
        withTerminal(prompt, echo: false)
    }

    private func withTerminal(_ prompt: String, echo: Bool) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }

        var saved = termios()
        let haveAttributes = tcgetattr(fd, &saved) == 0
        if !echo, haveAttributes {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            quiet.c_lflag |= tcflag_t(ECHONL)
            tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        defer { if !echo, haveAttributes { tcsetattr(fd, TCSAFLUSH, &saved) } }

        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == 0x0A { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// For BatchMode: nobody is asked anything.
public struct NoPrompter: Prompter {
    public init() {}
    public var isAvailable: Bool { false }
    public func ask(_ question: String) -> String? { nil }
    public func readSecret(_ prompt: String) -> String? { nil }
}
