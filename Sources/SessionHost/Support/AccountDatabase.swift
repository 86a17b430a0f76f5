import Glibc

/// The host's users and groups, read without glibc's NSS. The helper is one static program that runs on any Linux
/// (any glibc, musl, or no libc at all), and a static glibc cannot load NSS modules: getpwnam of a user the files
/// lack crashes it where nsswitch.conf names systemd or compat. So /etc/passwd and /etc/group are read as files,
/// and what they do not hold is asked of `getent` (LDAP, SSSD, NIS through compat, systemd's dynamic users: every
/// source the system's own libc knows) when nsswitch.conf names a source other than files, as a child process.
///
/// Lines are bytes, as glibc reads them: split at newline and colon bytes only, names compared byte for byte (a
/// combining mark after a colon must not hide a field, nor two spellings of a name match). Comment lines and lines
/// starting with a blank are skipped; a malformed line is passed over for the next.
public enum AccountDatabase {
    public struct User: Equatable, Sendable {
        public let name: String
        public let uid: uid_t
        public let gid: gid_t
        public let home: String
        public let shell: String
    }

    public struct Group: Equatable, Sendable {
        public let name: String
        public let gid: gid_t
        public let members: [String]
    }

    public static func user(named name: String) -> User? {
        lookUp(named: name, in: "passwd", parse: parseUser, name: \.name)
    }

    public static func user(id uid: uid_t) -> User? {
        lookUp(id: UInt32(uid), in: "passwd", parse: parseUser) { $0.uid == uid }
    }

    public static func group(named name: String) -> Group? {
        lookUp(named: name, in: "group", parse: parseGroup, name: \.name)
    }

    public static func group(id gid: gid_t) -> Group? {
        lookUp(id: UInt32(gid), in: "group", parse: parseGroup) { $0.gid == gid }
    }

    /// This process's own account.
    public static var current: User? { user(id: getuid()) }

    /// The groups `user` is in, primary first, as initgroups would make them (and sudo's %group matches them).
    /// With `filesOnly`, the groups /etc/group alone gives (no child process: what a check made before every
    /// request asks first).
    public static func groups(of user: User, filesOnly: Bool = false) -> [Group] {
        var ids = [user.gid]
        for group in entries(of: "group", parse: parseGroup) where group.members.contains(where: { same($0, user.name) }) {
            ids.append(group.gid)
        }
        // "name gid gid ...": the supplementary groups every source knows.
        if !filesOnly, usesOtherSources("group"), let line = getent(["initgroups", user.name])?.first {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = words.first, same(String(first), user.name) { ids += words.dropFirst().compactMap { gid_t($0) } }
        }
        var seen = Set<gid_t>()
        return ids.filter { seen.insert($0).inserted }.compactMap { group(id: $0) }
    }

    /// The users whose primary group is `gid`: the files' and every other source's; nil when another source could
    /// not be listed (getent missing, failing or slow), so that no caller takes "none" for an answer it lacks. A
    /// directory service that does not enumerate lists none, as for sshd, which walks getpwent.
    public static func users(withPrimaryGroup gid: gid_t) -> [User]? {
        var all = entries(of: "passwd", parse: parseUser)
        if usesOtherSources("passwd") {
            guard let listed = getent(["passwd"]) else { return nil }
            all += listed.compactMap { parseUser(Array($0.utf8)[...]) }
        }
        return all.filter { $0.gid == gid }
    }

    /// Whether this process's user is the only member of group `gid` (a user private group): as
    /// `UnixAccount.isPrivateGroup` on the client, which may ask libc. Every entry of that gid counts; anything that
    /// cannot be known counts as "not private".
    public static func isPrivateGroup(_ gid: gid_t) -> Bool {
        guard let me = current, let primary = users(withPrimaryGroup: gid) else { return false }
        var groups = entries(of: "group", parse: parseGroup).filter { $0.gid == gid }
        if groups.isEmpty, let other = group(id: gid) { groups = [other] }
        guard !groups.isEmpty else { return false }
        let members = groups.flatMap(\.members)
        guard members.allSatisfy({ same($0, me.name) }), primary.allSatisfy({ $0.uid == me.uid }) else { return false }
        return !(members.isEmpty && primary.isEmpty)
    }

    // MARK: Sources

    /// Where the files live: a test may point them elsewhere, as a chroot does.
    nonisolated(unsafe) static var directory = "/etc"

    private static func same(_ a: String, _ b: String) -> Bool { Array(a.utf8) == Array(b.utf8) }

    private static func lookUp<Entry>(
        named name: String, in database: String, parse: (ArraySlice<UInt8>) -> Entry?, name entryName: KeyPath<Entry, String>
    ) -> Entry? {
        let key = Array(name.utf8)
        guard !key.isEmpty, !key.contains(where: { $0 == colon || $0 == newline || $0 == 0 }) else { return nil }
        for line in lines(of: database) where line.starts(with: key + [colon]) {
            if let entry = parse(line) { return entry }
        }
        guard usesOtherSources(database), let answer = getent([database, name])?.first,
            let entry = parse(Array(answer.utf8)[...]), same(entry[keyPath: entryName], name)
        else { return nil }
        return entry
    }

    private static func lookUp<Entry>(
        id: UInt32, in database: String, parse: (ArraySlice<UInt8>) -> Entry?, matches: (Entry) -> Bool
    ) -> Entry? {
        if let entry = entries(of: database, parse: parse).first(where: matches) { return entry }
        guard usesOtherSources(database), let answer = getent([database, String(id)])?.first else { return nil }
        return parse(Array(answer.utf8)[...]).flatMap { matches($0) ? $0 : nil }
    }

    private static func entries<Entry>(of database: String, parse: (ArraySlice<UInt8>) -> Entry?) -> [Entry] {
        lines(of: database).compactMap(parse)
    }

    private static let colon = UInt8(ascii: ":"), newline = UInt8(ascii: "\n")

    /// The lines that can be entries: not empty, not a comment, not starting with a blank (as glibc's files
    /// source skips them), and not compat's `+`/`-` lines (which name other sources: see `usesOtherSources`).
    private static func lines(of database: String) -> [ArraySlice<UInt8>] {
        guard let bytes = Posix.readFile(directory + "/" + database, limit: 64 << 20) else { return [] }
        return bytes.split(separator: newline).filter { line in
            guard let first = line.first else { return false }
            return ![UInt8(ascii: "#"), UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "+"), UInt8(ascii: "-")].contains(first)
        }
    }

    private static func fields(_ line: ArraySlice<UInt8>) -> [String] {
        line.split(separator: colon, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// name:password:uid:gid:gecos:home:shell
    static func parseUser(_ line: ArraySlice<UInt8>) -> User? {
        let fields = fields(line)
        guard fields.count == 7, !fields[0].isEmpty, let uid = decimal(fields[2]), let gid = decimal(fields[3]) else { return nil }
        return User(name: fields[0], uid: uid, gid: gid, home: fields[5], shell: fields[6])
    }

    /// name:password:gid:member,member
    static func parseGroup(_ line: ArraySlice<UInt8>) -> Group? {
        let fields = fields(line)
        guard fields.count == 4, !fields[0].isEmpty, let gid = decimal(fields[2]) else { return nil }
        return Group(name: fields[0], gid: gid, members: fields[3].split(separator: ",").map(String.init))
    }

    /// Digits only (no sign, blank or base prefix), at most 32 bits.
    private static func decimal(_ text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return UInt32(text)
    }

    /// Whether nsswitch.conf names a source for `database` other than the files: compat counts as another source,
    /// since its `+` lines bring in NIS. No file, or no line for it: the files alone.
    static func usesOtherSources(_ database: String) -> Bool {
        guard let bytes = Posix.readFile(directory + "/nsswitch.conf", limit: 1 << 20) else { return false }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingSpaces == database else { continue }
            // Words in brackets are actions ([NOTFOUND=return]), not sources.
            let sources = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).filter { !$0.hasPrefix("[") }
            return sources.contains { $0 != "files" }
        }
        return false
    }

    /// getent's whole answer, as lines; nil when it is not there, fails, is cut short (over 64 MiB), or has not
    /// answered within 5 s (then it is killed): never an answer taken for complete that is not.
    private static func getent(_ arguments: [String]) -> [String]? {
        let places: [String] = ["/usr/bin/getent", "/bin/getent", "/usr/sbin/getent"]
        guard let path = places.first(where: { access($0, X_OK) == 0 }), let output = try? Posix.pipe() else { return nil }
        var readEnd = output.read
        defer { if readEnd >= 0 { close(readEnd) } }
        let pid = try? Posix.spawnInNewSession(
            path, arguments: ["getent", "--"] + arguments, environment: ["PATH=/usr/bin:/bin", "LC_ALL=C"],
            descriptors: [.open("/dev/null", flags: O_RDONLY, mode: 0), .copy(output.write), .open("/dev/null", flags: O_WRONLY, mode: 0)]
        )
        close(output.write)
        guard let pid else { return nil }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let deadline = Posix.milliseconds + 5000
        var complete = false
        while bytes.count <= 64 << 20 {
            var ready = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let left = deadline - Posix.milliseconds
            guard left > 0 else { break }
            let polled = poll(&ready, 1, Int32(left))
            if polled < 0 && errno == EINTR { continue }  // the daemon's SIGCHLD, for one
            guard polled > 0 else { break }
            let count = read(readEnd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                complete = count == 0
                break
            }
            bytes += chunk[0..<count]
        }
        // Whatever stopped the reading, getent cannot block on its pipe once the read end is gone.
        if !complete { kill(pid, SIGKILL) }
        close(readEnd)
        readEnd = -1
        var status: Int32 = -1
        var waited: pid_t
        repeat { waited = waitpid(pid, &status, 0) } while waited < 0 && errno == EINTR
        guard complete, waited == pid, status == 0 else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
