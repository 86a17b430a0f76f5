import Glibc
import SessionWire

/// What the idle clock closed, so that a later `receive` or `job receive` says when and why instead of only "no
/// session": a line each in `expired-v<N>` beside the sessions, the newest `kept` of them, fields separated by tabs
/// (names hold no tab: they are checked as session names).
struct ExpiredSessions {
    struct Entry: Equatable {
        var at: Int64
        var id: String
        var name: String
        var owner: String
        /// Its jobs' names (at most `jobsKept` of them, the newest).
        var jobs: [String]
        var reason: String

        var description: String {
            "session '\(name)' was closed at \(Posix.timestamp(of: at)): \(reason)"
        }
    }

    let path: String
    static let kept = 200
    static let jobsKept = 20

    func record(_ entry: Entry) {
        let lines = (entries().suffix(Self.kept - 1) + [entry]).map(Self.line).joined(separator: "\n") + "\n"
        do { try Posix.writeFileAtomically(path, Array(lines.utf8)) } catch { HostDaemon.log("\(path): \(error)") }
    }

    func entries() -> [Entry] {
        guard let bytes = Posix.readFile(path, limit: 1 << 20) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 6, let at = Int64(fields[0]) else { return nil }
            return Entry(
                at: at, id: String(fields[1]), name: String(fields[2]), owner: String(fields[3]),
                jobs: fields[4].split(separator: ",").map(String.init), reason: String(fields[5]))
        }
    }

    /// The newest closed session with this id or name.
    func session(_ reference: String) -> Entry? {
        entries().last { $0.id == reference || $0.name == reference }
    }

    /// The newest closed session of `owner` that held a job of this name.
    func session(holdingJob name: String, owner: String) -> Entry? {
        entries().last { $0.owner == owner && $0.jobs.contains(name) }
    }

    private static func line(_ entry: Entry) -> String {
        [String(entry.at), entry.id, entry.name, entry.owner, entry.jobs.suffix(jobsKept).joined(separator: ","), entry.reason]
            .map { String($0.map { $0 == "\t" || $0 == "\n" ? " " : $0 }) }.joined(separator: "\t")
    }
}
