import Glibc
import Sessions
import SSHClient

/// What a fan-out prints while it runs: the targets' lines, notices, and, when stdout and stderr are both a
/// terminal, a live progress line on stderr kept below them (erased before each write, drawn again after).
final class FanOutConsole: @unchecked Sendable {
    private let lock = Lock()
    private let total: Int
    private let started = Deadline.now
    let showsProgress: Bool
    private var done = 0
    private var failed = 0
    private var running = 0
    private var progressShown = false

    init(total: Int, progress: Bool = isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1) {
        self.total = total
        self.showsProgress = progress
        if progress { Self.eraseProgressOnSignals() }
    }

    /// Ctrl-C, SIGTERM or SIGHUP end pss as before, the progress line erased first (signals that were ignored
    /// stay ignored).
    private static func eraseProgressOnSignals() {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var previous = sigaction()
            sigaction(signal, nil, &previous)
            if unsafeBitCast(previous.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                let erase: StaticString = "\r\u{1B}[K"
                _ = Glibc.write(STDERR_FILENO, erase.utf8Start, erase.utf8CodeUnitCount)
                Glibc.signal(signal, SIG_DFL)
                raise(signal)
            }
            sigaction(signal, &action, nil)
        }
    }

    /// Writes whole lines to `descriptor` (stdout or stderr).
    func write(_ bytes: [UInt8], to descriptor: Int32) {
        lock.withLock {
            eraseProgress()
            Terminal.write(bytes, to: descriptor)
            drawProgress()
        }
    }

    /// A message on stderr, as Diagnostics prints them.
    func notice(_ message: String) {
        write(Array(Diagnostics.line(message).utf8), to: STDERR_FILENO)
    }

    func targetStarted() {
        lock.withLock {
            running += 1
            redraw()
        }
    }

    func targetEnded(failed didFail: Bool) {
        lock.withLock {
            running -= 1
            done += 1
            if didFail { failed += 1 }
            redraw()
        }
    }

    /// Draws the line again (the elapsed time moves on).
    func tick() {
        lock.withLock { redraw() }
    }

    /// Takes the progress line away for good.
    func finish() {
        lock.withLock { eraseProgress() }
    }

    private func redraw() {
        eraseProgress()
        drawProgress()
    }

    private func eraseProgress() {
        guard progressShown else { return }
        Terminal.write(Array("\r\u{1B}[K".utf8), to: STDERR_FILENO)
        progressShown = false
    }

    private func drawProgress() {
        guard showsProgress, done < total else { return }
        let seconds = Double(Deadline.now.nanoseconds - started.nanoseconds) / 1e9
        let elapsed = String(Int(seconds)) + "." + String(Int(seconds * 10) % 10)
        let text = "pss: \(done)/\(total) done, \(failed) failed, \(running) running, \(elapsed) s"
        Terminal.write(Array(text.utf8), to: STDERR_FILENO)
        progressShown = true
    }
}

/// Asks nothing (several targets run at once), and says what ssh would warn about (a key added to known_hosts)
/// through the console, so that it never lands inside the progress line or another line.
struct ConsolePrompter: Prompter {
    let console: FanOutConsole

    var isAvailable: Bool { false }
    func ask(_ question: String) -> String? { nil }
    func readSecret(_ prompt: String) -> Secret? { nil }
    func inform(_ message: String) {
        console.write(Array((message.escapingControlCharacters(keepingNewlines: true) + "\n").utf8), to: STDERR_FILENO)
    }
}
