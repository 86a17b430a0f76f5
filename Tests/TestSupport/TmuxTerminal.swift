import Foundation

/// A real terminal: a detached tmux session running a command, typed into with send-keys and read with
/// capture-pane. Each instance has its own tmux server socket.
public final class TmuxTerminal {
    private let socket: String
    private let scratch = Scratch("tmux")

    /// Starts `command` (a shell command line) in an 80x24 terminal with `environment`.
    public init(command: String, environment: [String: String]) {
        socket = scratch.file("tmux.sock")
        let exports = environment.map { "export \($0.key)='\($0.value)'" }.joined(separator: "; ")
        // `; sleep` keeps the pane after the command ends, so its last output and status can be read.
        let script = scratch.write("run.sh", "\(exports)\n\(command)\necho \"[exit $?]\"\nsleep 600\n", mode: 0o755)
        shell("tmux -S '\(socket)' -f /dev/null new-session -d -x 80 -y 24 '\(script)'")
    }

    deinit {
        _ = ProcessRunner.run("/usr/bin/tmux", ["-S", socket, "kill-server"], limit: 10)
    }

    public func type(_ text: String) {
        shell("tmux -S '\(socket)' send-keys -l -- '\(text.replacingOccurrences(of: "'", with: "'\\''"))'")
    }

    public func press(_ key: String) {
        shell("tmux -S '\(socket)' send-keys \(key)")
    }

    /// Types a line and presses Enter, as a user at a prompt does.
    public func typeLine(_ text: String) {
        type(text)
        press("Enter")
    }

    /// Resizes the terminal, as a user dragging the window's corner (the program in it gets SIGWINCH).
    public func resize(columns: Int, rows: Int) {
        shell("tmux -S '\(socket)' resize-window -x \(columns) -y \(rows)")
    }

    /// Pastes a file's contents, as a user pasting text into the terminal.
    public func paste(file: String) {
        shell("tmux -S '\(socket)' load-buffer '\(file)' && tmux -S '\(socket)' paste-buffer")
    }

    /// The screen as it shows now (no scrollback).
    public var visibleScreen: String {
        ProcessRunner.run("/usr/bin/tmux", ["-S", socket, "capture-pane", "-p"], limit: 10).stdoutText
    }

    public var screen: String {
        ProcessRunner.run("/usr/bin/tmux", ["-S", socket, "capture-pane", "-p", "-J", "-S", "-200"], limit: 10).stdoutText
    }

    /// Waits until the screen shows `text` (an event, not a fixed delay); returns whether it did within `limit`.
    @discardableResult
    public func waitFor(_ text: String, limit: Double = 20) -> Bool {
        Processes.waitUntil(limit: limit) { screen.contains(text) }
    }
}
