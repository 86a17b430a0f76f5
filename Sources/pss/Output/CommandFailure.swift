import ArgumentParser
import Foundation
import Glibc
import Sessions
import SSHClient

/// The exit statuses of shared/DESIGN.md, and the errors that lead to them.
enum ExitStatusCode {
    static let usage: Int32 = 64
    /// `--lock` busy (EX_TEMPFAIL: try again later); also `job receive` of a job still running.
    static let locked: Int32 = 75
    static let pending: Int32 = 75
    static let refused: Int32 = 254
    static let transport: Int32 = 255
}

/// A failure the CLI reports itself: a message on stderr and the documented status.
enum CommandFailure: Error, CustomStringConvertible {
    case usage(String)
    case locked(String)
    case refused(String)
    case transport(String)

    var description: String {
        switch self {
        case let .usage(message), let .locked(message), let .refused(message), let .transport(message): return message
        }
    }

    var status: Int32 {
        switch self {
        case .usage: return ExitStatusCode.usage
        case .locked: return ExitStatusCode.locked
        case .refused: return ExitStatusCode.refused
        case .transport: return ExitStatusCode.transport
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
            case .hostUnsupported, .helper, .local, .gaveUp, .detached: return .transport(error.description)
            }
        default: return .transport("\(error)")
        }
    }
}

enum Diagnostics {
    /// Writes a message on stderr. Messages carry text from hosts (refusals, a helper's errors): control
    /// characters are escaped, line breaks kept.
    static func print(_ message: String) {
        Terminal.write("pss: \(message.escapingControlCharacters(keepingNewlines: true))\n", to: STDERR_FILENO)
    }

    /// Runs `body` for each target: a failure is reported under the target's name and does not stop the others.
    /// Returns the worst status (0 when every target succeeded).
    static func forEachTarget(_ targets: [String], _ body: (String) throws -> Void) -> Int32 {
        var worst: Int32 = 0
        for target in targets {
            do {
                try body(target)
            } catch {
                let failure = CommandFailure.from(error)
                print("\(target): \(failure.description)")
                worst = max(worst, failure.status)
            }
        }
        return worst
    }
}
