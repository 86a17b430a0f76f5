import Foundation

/// What a command on one target came to: its status or the failure that kept it from one, and its output when
/// gathered (--json, --group).
struct CommandOutcome {
    var host: String
    var session: String?
    var sessionName: String?
    var job: String?
    var exitCode: Int32?
    var signal = ""
    var failure: CommandFailure?
    var durationMs = 0
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    /// For a summary of many targets: the failure in one line, and what it shares with others (said once).
    var briefFailure: String?
    var explanation: String?

    var status: Int32 { failure?.status ?? exitCode ?? 0 }

    /// Why the target counts as failed, or nil.
    var reason: String? {
        if let failure { return failure.description }
        if !signal.isEmpty { return "killed by signal \(signal)" }
        if let exitCode, exitCode != 0 { return "exit status \(exitCode)" }
        return nil
    }

    /// The JSON object of DESIGN.md for one target's command (`invoke` and `job receive`).
    var jsonLine: JSONLine {
        var line = JSONLine()
        line.add("host", host)
        line.add("session", session)
        line.add("sessionName", sessionName)
        line.add("jobId", job)
        line.add("exitCode", exitCode.map(Int.init))
        // Text as text; bytes that are not UTF-8 also as base64 (the text then has U+FFFD where they were).
        for (key, bytes) in [("stdout", stdout), ("stderr", stderr)] {
            line.add(key, String(decoding: bytes, as: UTF8.self))
            if String(validating: bytes, as: UTF8.self) == nil { line.add(key + "Base64", Data(bytes).base64EncodedString()) }
        }
        line.add("error", failure?.description)
        line.add("durationMs", durationMs)
        return line
    }
}
