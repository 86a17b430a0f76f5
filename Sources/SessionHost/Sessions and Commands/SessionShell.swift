import Glibc
import SessionWire

/// A session's persistent shell: bash (else sh) on its own PTY, leader of its own process session, with fd 3 a
/// private pipe back to the daemon. Commands are typed into it as one line that sources the command's file; the
/// line reports on fd 3 when the command starts and how it ended, each notice carrying a token only this shell
/// knows, so nothing a command prints, to stdout or to the terminal, can be taken for a notice.
final class SessionShell {
    let pid: pid_t
    let master: Int32
    private let slave: Int32
    /// The terminal's path (/dev/pts/N), as processes reading it have it open.
    let terminalPath: String
    let notices: Int32
    let token: String
    private var pendingNotices: [UInt8] = []

    enum Notice: Equatable {
        case started(command: Int)
        case done(command: Int, status: Int32)
        /// `exit` at the shell's own prompt (the user entered in it leaves; the shell stays).
        case exitAtPrompt
        /// The shell has read the login files and the setup line: commands may be typed.
        case ready
    }

    /// Lines the daemon typed for itself whose end has not shown yet: what the terminal shows until then is not the
    /// user's (the shell's echo of them: readline echoes what it reads, whatever the terminal's ECHO), and is never
    /// logged, replayed or shown. Each line ends by printing `sentinel`, so what follows it (the prompt) is kept.
    private var plumbingPending = 0
    /// Bounded in time: a line the shell never finished (a signal) hides nothing for long.
    private var plumbingUntil: Int64 = 0
    /// The end of what was read, held back while it may be the start of a sentinel.
    private var plumbingCarry: [UInt8] = []

    /// What a plumbing line prints at its end: an OSC sequence terminals ignore, with this shell's token.
    private var sentinel: [UInt8] { Array("\u{1B}]999;pss \(token)\u{07}".utf8) }

    /// Called before a plumbing line is typed: what the terminal showed before it (a command's last words) is
    /// taken in first, so that only the line's own echo is dropped.
    var beforePlumbing: (() -> Void)?

    /// Types a line of the daemon's own (the prompt and echo of an entered user, a command's end for an abandoned
    /// line): what the shell shows of it is dropped up to the sentinel it prints at its end.
    @discardableResult
    func typePlumbing(_ line: String) -> Bool {
        beforePlumbing?()
        plumbingPending += 1
        plumbingUntil = Posix.milliseconds + 2000
        return type(line + "; \\printf '\\033]999;pss \(token)\\007'")
    }

    /// What of `bytes`, read from the terminal, is the user's: the echo of plumbing lines taken out.
    func withoutPlumbing(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        guard plumbingPending > 0 else { return Array(bytes) }
        var data = plumbingCarry + bytes
        plumbingCarry = []
        guard Posix.milliseconds < plumbingUntil else {
            plumbingPending = 0
            return data
        }
        let mark = sentinel
        while plumbingPending > 0 {
            // (A plain search: Collection.firstRange(of:) would link the string-processing library into the helper.)
            guard let start = data.indices.first(where: { data[$0...].starts(with: mark) }) else {
                // Keep the end that may be a sentinel's start; the rest is echo.
                plumbingCarry = Array(data.suffix(mark.count - 1))
                return []
            }
            data.removeSubrange(..<(start + mark.count))
            plumbingPending -= 1
        }
        return data
    }

    /// Whether the shell has read its login files (and a configuration's startup script) and the setup line.
    /// Until then a program they run has the terminal, which is not a program a user left running there. A shell
    /// that reads neither is ready at once: a command line typed now is read after the setup line.
    private(set) var isReady: Bool

    static var shellPath: String {
        access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh"
    }

    /// `startupScript`: a file the shell reads once it has started (a configuration's), after the login files.
    init(environment: [String], loadsProfile: Bool = false, startupScript: String? = nil) throws {
        let token = Hex.string(try Posix.randomBytes(8))
        let (master, slavePath) = try Self.openTerminal()
        // The daemon keeps the slave open too, so the master never reads EIO between shells.
        let slave = open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        try Posix.check(slave, "open \(slavePath)")
        var attributes = termios()
        tcgetattr(slave, &attributes)
        attributes.c_lflag &= ~tcflag_t(ECHO | ECHOE | ECHOK | ECHONL)  // typed lines are not part of the log
        tcsetattr(slave, TCSANOW, &attributes)
        var size = winsize(ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(slave, UInt(TIOCSWINSZ), &size)

        let notices = try Posix.pipe()
        let shell = Self.shellPath
        let pid: pid_t
        do {
            // The PTY, opened in the new session without O_NOCTTY, becomes the shell's controlling terminal.
            pid = try Posix.spawnInNewSession(
                shell, arguments: shell.hasSuffix("bash") ? ["bash", "--noprofile", "--norc", "--noediting", "-i"] : ["sh", "-i"],
                environment: environment,
                descriptors: [.open(slavePath, flags: O_RDWR), .copy(0), .copy(0), .copy(notices.write)])
            close(notices.write)
        } catch {
            close(notices.write); close(master); close(slave); close(notices.read)
            throw error
        }
        Posix.setNonBlocking(master)
        Posix.setNonBlocking(notices.read)
        self.pid = pid
        self.master = master
        self.slave = slave
        self.terminalPath = slavePath
        self.notices = notices.read
        self.token = token
        isReady = !loadsProfile && startupScript == nil
        if loadsProfile { _ = type(profileLine) }
        if let startupScript { _ = type(". \(ShellQuoting.quote(startupScript)) </dev/null") }
        _ = type(setupLine)
    }

    /// The prompt an entered user gets when the login files set none.
    private static var defaultPrompt: String { shellPath.hasSuffix("bash") ? #"\u@\h:\w\$ "# : "$ " }

    /// The user's login files, as an ssh login reads them (bash: /etc/profile, then the first of ~/.bash_profile,
    /// ~/.bash_login and ~/.profile, and ~/.bashrc unless that file reads it; sh: /etc/profile and ~/.profile).
    /// Read with a prompt set (rc files return early without one), stdin from /dev/null (a `read` in them must not
    /// take the daemon's lines); what they print goes to the terminal's log, never into a command's output.
    private var profileLine: String {
        let prompt = "PS1='\(Self.defaultPrompt)'"
        guard Self.shellPath.hasSuffix("bash") else {
            return prompt + #"; [ -r /etc/profile ] && . /etc/profile </dev/null; [ -r "$HOME/.profile" ] && . "$HOME/.profile" </dev/null"#
        }
        return prompt
            + #"; [ -r /etc/profile ] && . /etc/profile </dev/null; for __pss_f in "$HOME/.bash_profile" "$HOME/.bash_login" "$HOME/.profile"; do if [ -r "$__pss_f" ]; then . "$__pss_f" </dev/null; break; fi; done; case $(cat "$__pss_f" 2>/dev/null) in *bashrc*) ;; *) [ -r "$HOME/.bashrc" ] && . "$HOME/.bashrc" </dev/null;; esac; unset __pss_f"#
    }

    /// Typed first: `exit` at the shell's own prompt (where fd 3, the notices, is open) tells the daemon instead
    /// of ending the shell and its state, as Exit-PSSession leaves a session. An alias, since POSIX sh finds
    /// special builtins before functions; Ctrl-D is ignored by the shell, and the daemon turns it into the same
    /// `exit`. `exit` without a status keeps `$?`'s; only the shell itself (not a subshell: BASHPID, else the parent
    /// of a process it starts) tells the daemon. EOF never ends the shell (IGNOREEOF as large as bash takes).
    ///
    /// In a command (sourced with fd 3 closed), `exit N` ends the command, not the shell, as `exit` in a script
    /// block given to a PowerShell session does: bash records N, and a DEBUG trap (extdebug: returning 2 there
    /// returns from the function or sourced file running) unwinds every function call and the sourced file, so
    /// nothing after the `exit` runs and the shell keeps its variables and directory. `set -e` is put aside while
    /// it unwinds (bash would otherwise end on the trap's status), and extdebug is put back as it was; a DEBUG trap
    /// of the user's own (bash-preexec) is not: a function cannot see it to restore it. In a subshell (`( ... )`, a
    /// pipeline's part, `$( )`, a job) `exit` ends the subshell, as ever. POSIX sh has no such trap: there `exit` in
    /// a command ends the shell, and a new one takes its place.
    private var setupLine: String {
        let bash = Self.shellPath.hasSuffix("bash")
        let inCommand =
            bash
            ? #" elif [ -n "${__pss_cmd-}" ] && [ "$BASHPID" = "$$" ]; then [ "${1-}" = -- ] && shift; __pss_a=${1:-$__pss_s}; if [[ $__pss_a =~ ^[-+]?[0-9]{1,18}$ ]]; then __pss_status=$(( 10#${__pss_a#[-+]} & 255 )); [ "${__pss_a:0:1}" = - ] && __pss_status=$(( (256 - __pss_status) & 255 )); else __pss_status=2; fi; case $- in *e*) __pss_e=1; set +e;; esac; __pss_xd=$(shopt -p extdebug); shopt -s extdebug; trap __pss_unwind DEBUG; return 0;"#
            : ""
        let unwind =
            bash
            ? #" __pss_unwind() { for __pss_src in "${BASH_SOURCE[@]}"; do [ "$__pss_src" = "$__pss_cmd" ] && return 2; done; trap - DEBUG; eval "$__pss_xd"; [ -n "${__pss_e-}" ] && set -e; unset __pss_e __pss_src __pss_a __pss_xd; return 0; };"#
            : ""
        return #"__pss_exit() { __pss_s=$?; if { : >&3; } 2>/dev/null && [ "${BASHPID:-$(exec sh -c 'echo $PPID')}" = "$$" ]; then \printf 'L "#
            + token + #"\n' >&3; return "$__pss_s";"# + inCommand
            + #" elif [ $# -eq 0 ]; then command exit "$__pss_s"; else command exit "$@"; fi; };"# + unwind
            + #" alias exit=__pss_exit; set -o ignoreeof; IGNOREEOF=2147483647; __pss_ps1=$PS1; PS1= PS2=; \printf 'R "#
            + token + #"\n' >&3"#
    }

    /// A new PTY: its master, and its slave's path. Linux's /dev/ptmx directly (unlock, then ask its number),
    /// since posix_openpt and ptsname_r are not exported to Swift without _GNU_SOURCE.
    static func openTerminal() throws -> (Int32, String) {
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        try Posix.check(master, "open /dev/ptmx")
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(master, UInt(0x4004_5431) /* TIOCSPTLCK */, &unlock) == 0,
            ioctl(master, UInt(0x8004_5430) /* TIOCGPTN */, &number) == 0
        else {
            let code = errno
            close(master)
            throw Posix.Failure(operation: "unlocking a PTY", code: code)
        }
        return (master, "/dev/pts/\(number)")
    }

    /// Types `line` into the shell.
    @discardableResult
    func type(_ line: String) -> Bool {
        // A PTY line holds at most 4095 bytes in canonical mode; callers keep lines short (paths only).
        write(Array(line.utf8) + [0x0A])
    }

    /// Keys not written to the terminal yet (a program that does not read, in raw mode): written as it takes them
    /// (`flushInput` on POLLOUT), never waited for.
    private var pendingInput: [UInt8] = []
    var pendingInputCount: Int { pendingInput.count }

    /// Set while the shell shows a prompt, echoes and has the user's TERM (`pss enter`); the lines the daemon
    /// types for commands need none of it (they are not part of the log, and commands write to files).
    private(set) var isInteractive = false

    /// For a user entering: their terminal type, a prompt, echo.
    /// `lineEditing`: bash's readline (history, arrows, completion); without it the terminal's canonical mode reads
    /// lines, with echo, so that what is typed is what the shell reads (for a transcript).
    func enterInteractive(term: String, lineEditing: Bool = true) {
        let safeTerm =
            !term.isEmpty && term.utf8.count <= 64
            && term.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || [0x2B, 0x2D, 0x2E, 0x5F].contains($0)
            }
        // Echo is turned on by the line itself, once read: set now, it could reach the line before the shell did.
        // The prompt is the one the login files set, else a default.
        // bash edits the line with readline while a user is entered (history, arrows, completion).
        let editing = Self.shellPath.hasSuffix("bash") && lineEditing ? "; set -o emacs" : ""
        _ = typePlumbing("stty echo echoe echok; export TERM=\(safeTerm ? term : "xterm"); PS1=${__pss_ps1:-'\(Self.defaultPrompt)'}" + editing)
        isInteractive = true
        if let held = heldKeys {
            heldKeys = nil
            write(held)
        }
    }

    /// Keys an entered user typed before the shell was ready for them (its login files still read): typed after
    /// the line that gives them a prompt and echo, in order. nil while keys go straight in.
    private var heldKeys: [UInt8]?

    /// Holds the entered user's keys until `enterInteractive`.
    func holdKeys() {
        if heldKeys == nil { heldKeys = [] }
    }

    /// Writes keys an entered user typed (held while `holdKeys` is in force).
    @discardableResult
    func writeKeys(_ bytes: [UInt8]) -> Bool {
        guard heldKeys == nil else {
            heldKeys! += bytes
            return true
        }
        return write(bytes)
    }

    /// Back to what commands are typed into: no prompt, no echo, TERM=dumb.
    func leaveInteractive() {
        setEcho(false)
        guard isInteractive else { return }
        _ = typePlumbing((Self.shellPath.hasSuffix("bash") ? "set +o emacs; " : "") + "export TERM=dumb; PS1=")
        isInteractive = false
    }

    /// What an entered user left on the shell's line is thrown away, unread: the terminal's queue, and (SIGINT)
    /// what the shell took in of a line without its newline (after a Ctrl-D), so no line typed next is joined
    /// to it.
    func discardTypedLine(interruptShell: Bool) {
        pendingInput = []
        // A plumbing line still queued goes too: its sentinel will never show.
        plumbingPending = 0
        plumbingCarry = []
        heldKeys = nil
        tcflush(slave, TCIFLUSH)
        if interruptShell { kill(pid, SIGINT) }
    }

    /// Echo of what is typed: on while a user is entered, off for the lines the daemon types (not part of the log).
    func setEcho(_ on: Bool) {
        var attributes = termios()
        tcgetattr(slave, &attributes)
        let flags = tcflag_t(ECHO | ECHOE | ECHOK)
        if on { attributes.c_lflag |= flags } else { attributes.c_lflag &= ~flags }
        tcsetattr(slave, TCSANOW, &attributes)
    }

    /// Sets the terminal's size; the kernel signals the foreground program (SIGWINCH) when it changed. `redraw`
    /// changes it twice, so a full-screen program redraws even at the same size.
    func resize(_ size: WindowSize, redraw: Bool = false) {
        var wanted = winsize(ws_row: max(size.rows, 2), ws_col: max(size.columns, 2), ws_xpixel: 0, ws_ypixel: 0)
        if redraw {
            var other = wanted
            other.ws_row -= 1
            _ = ioctl(slave, UInt(TIOCSWINSZ), &other)
        }
        _ = ioctl(slave, UInt(TIOCSWINSZ), &wanted)
    }

    /// Whether the shell itself has the terminal (no program in the foreground).
    var isAtPrompt: Bool { tcgetpgrp(master) == pid }

    /// Whether the terminal takes lines (canonical mode: the kernel edits them, Ctrl-D ends one), rather than keys
    /// as they come (readline at an entered prompt, a full-screen program).
    var readsLines: Bool {
        var attributes = termios()
        tcgetattr(slave, &attributes)
        return attributes.c_lflag & tcflag_t(ICANON) != 0
    }

    /// Whether what is typed shows: false while a program reads a password (sudo, ssh, `read -s` turn ECHO off).
    var echoes: Bool {
        var attributes = termios()
        tcgetattr(slave, &attributes)
        return attributes.c_lflag & tcflag_t(ECHO) != 0
    }

    /// The terminal's control characters (VEOF, VERASE, ...).
    func controlCharacter(_ index: Int32) -> UInt8 {
        var attributes = termios()
        tcgetattr(slave, &attributes)
        return withUnsafeBytes(of: attributes.c_cc) { $0[Int(index)] }
    }

    /// Writes `bytes` to the terminal, as typed on its keyboard: what it does not take now waits, in order.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        pendingInput += bytes
        return flushInput()
    }

    /// Writes what waits, as far as the terminal takes it; false on an error other than a full terminal.
    @discardableResult
    func flushInput() -> Bool {
        var offset = 0
        defer { pendingInput.removeFirst(offset) }
        while offset < pendingInput.count {
            let written = pendingInput.withUnsafeBytes { Glibc.write(master, $0.baseAddress! + offset, pendingInput.count - offset) }
            if written > 0 { offset += written; continue }
            if written < 0 && errno == EINTR { continue }
            return written < 0 && errno == EAGAIN
        }
        return true
    }

    /// The process group in the terminal's foreground when it is not the shell's own: the pipeline or subshell
    /// running now, which `job stop` and `--timeout` signal.
    var foregroundGroup: pid_t? {
        let group = tcgetpgrp(master)
        return group > 0 && group != pid ? group : nil
    }

    /// The line that runs command `number` from `file` with the given redirections. In a subshell (jobs, --timeout)
    /// the whole command is one process group; its changes to the shell's state do not carry over.
    func commandLine(
        number: Int, file: String, stdin: String, stdout: String, stderr: String, subshell: Bool,
        echo: Bool = false
    ) -> String {
        let quote = ShellQuoting.quote
        let body = subshell ? "( . \(quote(file)) ) 3>&-" : ". \(quote(file)) 3>&-"
        // A command with a user at its terminal gets echo, turned on once its line is read (not before: the line
        // itself would be echoed). \printf: an alias from the user's rc files is not expanded.
        // __pss_cmd names the file being sourced, for `exit`; __pss_status is the status `exit` gave, if any.
        return (echo ? "stty echo echoe echok 2>/dev/null; " : "")
            + "{ \\printf 'S \(token) \(number)\\n' >&3; __pss_cmd=\(quote(file)); \(body); } <\(quote(stdin)) >\(quote(stdout)) 2>\(quote(stderr)); "
            + "__pss_s=$?; \\printf 'D \(token) \(number) %d\\n' \"${__pss_status:-$__pss_s}\" >&3; unset __pss_cmd __pss_status"
    }

    /// A line that reports command `number` ended with `status`, for a command line the shell abandoned.
    func endLine(number: Int, status: Int32) -> String {
        "\\printf 'D \(token) \(number) \(status)\\n' >&3; unset __pss_cmd __pss_status"
    }

    /// Reads the notices available on fd 3.
    func readNotices() -> [Notice] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(notices, &buffer, buffer.count)
            if count > 0 {
                pendingNotices.append(contentsOf: buffer[0..<count])
                // Programs started at an entered prompt inherit fd 3: what they write there is not let grow.
                if pendingNotices.count > 1 << 16 { pendingNotices.removeFirst(pendingNotices.count - (1 << 16)) }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            break
        }
        var result: [Notice] = []
        while let newline = pendingNotices.firstIndex(of: 0x0A) {
            var fields = String(decoding: pendingNotices[..<newline], as: UTF8.self).split(separator: " ")
            pendingNotices.removeSubrange(...newline)
            // A notice starts at its letter before the token, whatever a program wrote before it on the line.
            if let at = fields.firstIndex(where: { $0 == token }), at > 0 {
                fields = [fields[at - 1].suffix(1)] + fields[at...]
            }
            if fields.count == 2, fields[0] == "L", fields[1] == token { result.append(.exitAtPrompt); continue }
            if fields.count == 2, fields[0] == "R", fields[1] == token {
                isReady = true
                result.append(.ready)
                continue
            }
            guard fields.count >= 3, fields[1] == token, let number = Int(fields[2]) else { continue }
            if fields[0] == "S" { result.append(.started(command: number)) }
            if fields[0] == "D", fields.count == 4, let status = Int32(fields[3]) { result.append(.done(command: number, status: status)) }
        }
        return result
    }

    /// Ends the shell and every process of its session: SIGHUP as a closing terminal would, then SIGKILL to
    /// whatever remains. Processes that left the session on purpose (setsid) are not found.
    func terminate() {
        for member in Self.processes(inSession: pid) { kill(member, SIGHUP) }
        kill(pid, SIGHUP)
        var status: Int32 = 0
        var reaped = false
        for _ in 0..<50 {
            if !reaped { reaped = waitpid(pid, &status, WNOHANG) == pid }
            if reaped && Self.processes(inSession: pid).isEmpty { break }
            usleep(2_000)
        }
        for member in Self.processes(inSession: pid) { kill(member, SIGKILL) }
        if !reaped {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
        }
        close(master); close(slave); close(notices)
    }

    /// Closes the descriptors of a shell that has already exited.
    func release() {
        for member in Self.processes(inSession: pid) { kill(member, SIGKILL) }
        close(master); close(slave); close(notices)
    }

    /// Live (not zombie) process ids whose session id is `sid`, from /proc.
    static func processes(inSession sid: pid_t) -> [pid_t] {
        Posix.directoryEntries("/proc").compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let fields = Posix.processStat(pid) else { return nil }
            guard fields.count > 3, fields[0] != "Z", let session = pid_t(fields[3]), session == sid else { return nil }
            return pid
        }
    }
}
