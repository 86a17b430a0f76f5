import ArgumentParser
import Foundation
import Glibc
import Sessions
import SSHClient

/// The exit statuses the README and the manual page (docs/pss.1.sections, EXIT STATUS) document, and the errors that
/// lead to them.
enum ExitStatusCode {
    static let usage: Int32 = 64
    /// `--lock` busy (EX_TEMPFAIL: try again later, as flock's).
    static let locked: Int32 = 75
    /// `job receive` of a job still running: what it wrote so far was written. pss's own, beside 254 and 255.
    static let stillRunning: Int32 = 253
    static let refused: Int32 = 254
    static let transport: Int32 = 255
}

/// A failure the CLI reports itself: a message on stderr and the documented status.
enum CommandFailure: Error, CustomStringConvertible {
    case usage(String)
    case locked(String)
    case refused(String)
    case transport(String)
    /// pss left the command (or did not start it) on a signal: 128 + the signal, as if it had killed pss.
    case signalled(String, signal: Int32)

    var description: String {
        switch self {
        case let .usage(message), let .locked(message), let .refused(message), let .transport(message), let .signalled(message, _):
            return message
        }
    }

    var status: Int32 {
        switch self {
        case .usage: return ExitStatusCode.usage
        case .locked: return ExitStatusCode.locked
        case .refused: return ExitStatusCode.refused
        case .transport: return ExitStatusCode.transport
        case let .signalled(_, signal): return 128 + signal
        }
    }

    /// Whether `error` comes from pss's own layers (rather than from the argument parser, which reports its own).
    static func isOurs(_ error: Error) -> Bool {
        error is CommandFailure || error is SSHError || error is SSHConfigError || error is SessionError
            || error is FileSafety.Refusal
    }

    /// The failure an error from a lower layer means to a user.
    static func from(_ error: Error) -> CommandFailure {
        switch error {
        case let failure as CommandFailure: return failure
        case let error as SSHError: return .transport(error.description)
        case let error as SSHConfigError: return .transport(error.description)
        case let error as FileSafety.Refusal: return .transport(error.description)
        case let error as SessionError:
            switch error {
            case .usage: return .usage(error.description)
            case .refused(.locked, _): return .locked(error.description)
            case .refused: return .refused(error.description)
            case let .detached(_, _, _, signal), let .notStarted(signal): return .signalled(error.description, signal: signal)
            case .hostUnsupported, .helper, .local, .gaveUp: return .transport(error.description)
            }
        default: return .transport("\(error)")
        }
    }
}

enum Diagnostics {
    /// Writes a message on stderr. Messages carry text from hosts (refusals, a helper's errors): control
    /// characters are escaped, line breaks kept.
    static func print(_ message: String) {
        Terminal.write(line(message), to: STDERR_FILENO)
    }

    /// The message as printed.
    static func line(_ message: String) -> String {
        "pss: \(message.escapingControlCharacters(keepingNewlines: true))\n"
    }

    /// Runs `body` for each target, at most `throttle` at once: a failure is reported under the target's name and
    /// does not stop the others. Returns what the targets that succeeded gave, in the targets' order, and the worst
    /// status (0 when every target succeeded). `body` runs on several threads at once when there are several
    /// targets.
    static func forEachTarget<Result>(
        _ targets: [String], throttle: Int = FanOut.defaultThrottle, _ body: (String) throws -> Result
    ) -> (results: [Result], worst: Int32) {
        forEachTarget(targets, throttle: throttle, indexed: { try body(targets[$0]) })
    }

    /// As above, `body` given the target's index (two targets may be written alike: a host and a session name).
    static func forEachTarget<Result>(
        _ targets: [String], throttle: Int = FanOut.defaultThrottle, indexed body: (Int) throws -> Result
    ) -> (results: [Result], worst: Int32) {
        var outcomes = [Swift.Result<Result, CommandFailure>?](repeating: nil, count: targets.count)
        let lock = Lock()
        FanOut.forEach(targets.count, throttle: throttle) { index in
            let outcome: Swift.Result<Result, CommandFailure>
            do {
                outcome = .success(try body(index))
            } catch {
                let failure = CommandFailure.from(error)
                print("\(targets[index]): \(failure.description)")
                outcome = .failure(failure)
            }
            lock.withLock { outcomes[index] = outcome }
        }
        var results: [Result] = []
        var worst: Int32 = 0
        for outcome in outcomes {
            switch outcome {
            case let .success(result)?: results.append(result)
            case let .failure(failure)?: worst = max(worst, failure.status)
            case nil: break
            }
        }
        return (results, worst)
    }
}
