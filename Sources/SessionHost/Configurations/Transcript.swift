import Glibc

/// A configuration's transcript (`transcriptDirectory`, as JEA's TranscriptDirectory): every line given to its
/// sessions, accepted or refused, with the time, the real user, the runAs user, the session and how it ended; one
/// file per session (`<session id>.log`). The directory is the daemon's user's (the runAs user's), 0700, so the
/// users who act through sudo can neither read nor write it.
struct Transcript {
    let directory: String

    /// Makes the directory when missing (0700) and checks it as the host directory is checked.
    func prepare() throws {
        try HostPaths.secureDirectory(directory)
    }

    /// One line: `TIME user=U runAs=R session=NAME (ID) EVENT line="…"`, the line escaped so that one entry is one
    /// line whatever it held.
    func record(session: String, id: String, user: String, runAs: String, event: String, line: String) -> Bool {
        // The event may carry text from the line (a refusal's reason): escaped as the line is, without quotes.
        let shownEvent = String(Self.quoted(event).dropFirst().dropLast())
        let entry = "\(Posix.timestamp) user=\(user) runAs=\(runAs) session=\(session) (\(id)) \(shownEvent) line=\(Self.quoted(line))\n"
        guard (try? prepare()) != nil else {
            HostDaemon.log("transcript \(directory): cannot be used")
            return false
        }
        let fd = open(directory + "/" + id + ".log", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            HostDaemon.log("transcript \(directory): \(String(cString: strerror(errno)))")
            return false
        }
        defer { close(fd) }
        guard Array(entry.utf8).withUnsafeBytes({ Posix.writeAll(fd, $0) }) else {
            HostDaemon.log("transcript \(directory): cannot write: \(String(cString: strerror(errno)))")
            return false
        }
        return true
    }

    /// `"…"` with `"`, `\` and control bytes escaped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            // C0 and C1 controls, and the marks that reorder what a reader sees (bidi overrides and isolates).
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                result += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
            case _
            where (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) || scalar.value == 0x200E
                || scalar.value == 0x200F:
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
