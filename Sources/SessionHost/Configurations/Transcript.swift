import Glibc
import SessionWire

/// A configuration's transcript (`transcriptDirectory`, as JEA's TranscriptDirectory): every line given to its
/// sessions, accepted or refused, with the time, the real user, the runAs user, the session and how it ended; one
/// file per session (`<session id>.log`). The directory is the daemon's user's (the runAs user's), 0700, so the
/// users who act through sudo can neither read nor write it.
///
/// Bounded, so that no user can fill the disk through it: a line is recorded by its first `shownLineBytes` bytes,
/// its length and its SHA-256 when longer; a file past `fileLimit` is rotated (`ID.log.1` to `.3`, the oldest
/// dropped); and each user's entries are held to `TranscriptRate` (what the daemon does over it: `transcribe`).
struct Transcript {
    let directory: String

    static let shownLineBytes = 1024
    static let fileLimit = 16 << 20
    static let rotatedFiles = 3

    /// Makes the directory when missing (0700) and checks it as the host directory is checked.
    func prepare() throws {
        try HostPaths.secureDirectory(directory)
    }

    /// The entry `record` writes: `TIME user=U runAs=R session=NAME (ID) EVENT line="…"`, the line escaped so that
    /// one entry is one line whatever it held, and cut at `shownLineBytes` (`… length=N sha256=H` then).
    static func entry(session: String, id: String, user: String, runAs: String, event: String, line: String) -> String {
        // The event may carry text from the line (a refusal's reason): escaped as the line is, without quotes.
        let shownEvent = String(quoted(String(decoding: event.utf8.prefix(shownLineBytes), as: UTF8.self)).dropFirst().dropLast())
        let bytes = Array(line.utf8)
        var shownLine = quoted(line)
        if bytes.count > shownLineBytes {
            // Cut at a character's start, so that the prefix is still text.
            var cut = shownLineBytes
            while cut > 0 && bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
            shownLine = quoted(String(decoding: bytes[..<cut], as: UTF8.self)) + "... length=\(bytes.count) sha256=\(SHA256.hex(bytes))"
        }
        return "\(Posix.timestamp) user=\(user) runAs=\(runAs) session=\(session) (\(id)) \(shownEvent) line=\(shownLine)\n"
    }

    /// Appends `entry` to session `id`'s file, rotating it first when it would pass `fileLimit`. False when it
    /// cannot be written.
    func record(_ entry: String, id: String) -> Bool {
        guard (try? prepare()) != nil else {
            HostDaemon.log("transcript \(directory): cannot be used")
            return false
        }
        let path = directory + "/" + id + ".log"
        var info = stat()
        if lstat(path, &info) == 0, Int(info.st_size) + entry.utf8.count > Self.fileLimit {
            for number in stride(from: Self.rotatedFiles - 1, through: 1, by: -1) {
                rename("\(path).\(number)", "\(path).\(number + 1)")
            }
            rename(path, path + ".1")
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
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

/// How much each user may add to a configuration's transcripts: a bucket of `burst` bytes, filled again at `rate`
/// bytes a second. Over it, the daemon refuses the user's commands and typing for a moment, and counts refused
/// lines instead of writing them (the count is written with the user's next entry).
struct TranscriptRate {
    static let burst = 256 << 10
    static let rate = 16 << 10

    private var buckets: [String: (bytes: Int, at: Int64)] = [:]
    /// Refused lines not written, per user.
    private(set) var unrecorded: [String: Int] = [:]

    /// Takes `count` bytes of `user`'s allowance at `now` (milliseconds); false, taking nothing, when it has not
    /// that much.
    mutating func take(_ count: Int, for user: String, now: Int64) -> Bool {
        var bucket = buckets[user] ?? (Self.burst, now)
        bucket.bytes = min(Self.burst, bucket.bytes + Int((now - bucket.at) * Int64(Self.rate) / 1000))
        bucket.at = now
        defer { buckets[user] = bucket }
        guard bucket.bytes >= count else { return false }
        bucket.bytes -= count
        return true
    }

    /// Seconds until `user` has `count` bytes again.
    func secondsUntil(_ count: Int, for user: String) -> Int {
        max(1, (count - (buckets[user]?.bytes ?? 0) + Self.rate - 1) / Self.rate)
    }

    mutating func countUnrecorded(for user: String) { unrecorded[user, default: 0] += 1 }

    /// The count of `user`'s unrecorded lines, which is then reset.
    mutating func takeUnrecorded(for user: String) -> Int { unrecorded.removeValue(forKey: user) ?? 0 }
}
