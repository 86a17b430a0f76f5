import Glibc
import Sessions
import SessionWire

/// The local terminal in raw mode while entered, as ssh -t puts it: every key goes to the session as typed. Put
/// back as it was on every way out (leaving, an error, TERM or HUP; the caller restores it before printing).
final class RawTerminal {
    private let descriptor: Int32
    private var saved = termios()
    private var isRaw = false

    init(_ descriptor: Int32) throws {
        self.descriptor = descriptor
        guard tcgetattr(descriptor, &saved) == 0 else { throw SessionError.local("cannot read the terminal's settings") }
    }

    /// `keepingOutput`: raw keys, but output processed as before (newlines), for `invoke` from a terminal, whose
    /// stdout and stderr are not a terminal's.
    func enable(keepingOutput: Bool = false) {
        var raw = saved
        cfmakeraw(&raw)
        if keepingOutput { raw.c_oflag = saved.c_oflag }
        tcsetattr(descriptor, TCSADRAIN, &raw)  // keys typed ahead while connecting are kept, and sent
        isRaw = true
    }

    func restore() {
        guard isRaw else { return }
        tcsetattr(descriptor, TCSADRAIN, &saved)
        isRaw = false
        if resetsModes { Terminal.write(Self.modeReset, to: STDOUT_FILENO) }
    }

    /// Set for `enter`: on the way out, the modes a remote program may have left on (alternate screen, cursor
    /// keys, keypad, mouse reporting, bracketed paste, a hidden cursor, colours) are turned off, as tmux does on
    /// detach.
    var resetsModes = false
    static let modeReset = "\u{1B}[?1049l\u{1B}[?1l\u{1B}>\u{1B}[?1000l\u{1B}[?1002l\u{1B}[?1003l\u{1B}[?1006l\u{1B}[?2004l\u{1B}[?25h\u{1B}[0m"

    /// A line from pss while the terminal is raw: on a line of its own.
    static func say(_ text: String) {
        Terminal.write("\r\n[pss: \(text.sanitizedForDisplay)]\r\n", to: STDERR_FILENO)
    }

    static func windowSize(of descriptor: Int32) -> WindowSize {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 else {
            return WindowSize(rows: 24, columns: 80)
        }
        return WindowSize(rows: size.ws_row, columns: size.ws_col)
    }
}
