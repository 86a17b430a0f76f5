import Glibc

/// A command waiting for input on its session's terminal, where nobody will type (a sudo password prompt, `read
/// </dev/tty`, a y/n question): found so that it never hangs silently. Only the terminal's foreground process group
/// can block reading it (a background reader is stopped by SIGTTIN), so the candidates are that group's leader, or
/// the shell itself when it has the terminal (a `read` builtin).
enum TerminalWait {
    /// How long a command may wait on its terminal before it is answered with end of file.
    static let patienceMilliseconds: Int64 = 2000

    enum Reading: Equatable {
        /// Blocked in read(2) on the terminal opened as /dev/tty (what commands asking for input do).
        case terminal
        /// Blocked in read(2) on the terminal's own path (the shell reading its next line at the prompt).
        case prompt
        /// Not reading the terminal.
        case other
        /// Its system call cannot be read (a process of another user, such as sudo).
        case unknown
    }

    /// What `pid` is blocked on, as far as the terminal goes.
    static func reading(_ pid: pid_t, terminal: String) -> Reading {
        guard let text = Posix.readFile("/proc/\(pid)/syscall") else { return .unknown }
        let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, fields[0] == readSystemCall, let descriptor = Int(fields[1].dropFirst(2), radix: 16) else { return .other }
        var target = [CChar](repeating: 0, count: 256)
        let length = readlink("/proc/\(pid)/fd/\(descriptor)", &target, target.count - 1)
        guard length > 0 else { return .other }
        // /dev/tty is the controlling terminal: for the session's processes, the session's own.
        let path = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path == "/dev/tty" ? .terminal : path == terminal ? .prompt : .other
    }

    /// read(2)'s number, as /proc/PID/syscall shows it.
    #if arch(x86_64)
        static let readSystemCall = "0"
    #else
        static let readSystemCall = "63"  // aarch64's generic table
    #endif

    /// Whether `pid` sleeps (state S), from /proc/PID/stat, readable for any process.
    static func isAsleep(_ pid: pid_t) -> Bool {
        Posix.processStat(pid)?.first == "S"
    }

    /// What the terminal last showed looks like a prompt: text after the last newline.
    static func prompt(in output: [UInt8]) -> String? {
        let last = output.lastIndex(of: 0x0A).map { output.index(after: $0) } ?? output.startIndex
        let line = output[last...].filter { $0 != 0x0D }
        guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return nil }
        return String(decoding: line, as: UTF8.self)
    }
}
