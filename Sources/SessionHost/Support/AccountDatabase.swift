import Glibc

/// The host's users and groups, read without glibc's NSS. The helper is one static program that runs on any Linux
/// (any glibc, musl, or no libc at all), and a static glibc cannot load NSS modules: getpwnam of a user the files
/// lack crashes it where nsswitch.conf names systemd or compat. So /etc/passwd and /etc/group are read as files,
/// and what they do not hold is asked of `getent` (LDAP, SSSD, systemd's dynamic users: every source the system's
/// own libc knows) when nsswitch.conf names a source other than files, as a child process.
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
        lookUp(named: name, in: "passwd", parse: parseUser)
    }

    public static func user(id uid: uid_t) -> User? {
        lookUp(id: UInt32(uid), in: "passwd", parse: parseUser) { $0.uid == uid }
    }

    public static func group(named name: String) -> Group? {
        lookUp(named: name, in: "group", parse: parseGroup)
    }

    public static func group(id gid: gid_t) -> Group? {
        lookUp(id: UInt32(gid), in: "group", parse: parseGroup) { $0.gid == gid }
    }

    /// This process's own account.
    public static var current: User? { user(id: getuid()) }

    /// The groups `user` is in, primary first, as initgroups would make them (and sudo's %group matches them).
    public static func groups(of user: User) -> [Group] {
        var ids = [user.gid]
        for group in entries(of: "group", parse: parseGroup) where group.members.contains(user.name) { ids.append(group.gid) }
        if usesOtherSources("group"), let line = getent(["initgroups", user.name]).first {
            // "name gid gid ...": the supplementary groups every source knows.
            ids += line.split(separator: " ").dropFirst().compactMap { gid_t($0) }
        }
        var seen = Set<gid_t>()
        return ids.filter { seen.insert($0).inserted }.compactMap { group(id: $0) }
    }

    /// The users whose primary group is `gid`, as far as they can be listed (a directory service that does not
    /// enumerate lists none: as sshd, which walks getpwent).
    public static func users(withPrimaryGroup gid: gid_t) -> [User] {
        let all = usesOtherSources("passwd") ? getent(["passwd"]).compactMap { parseUser($0[...]) } : entries(of: "passwd", parse: parseUser)
        return all.filter { $0.gid == gid }
    }

    /// Whether this process's user is the only member of group `gid` (a user private group): as
    /// `UnixAccount.isPrivateGroup` on the client, which may ask libc.
    public static func isPrivateGroup(_ gid: gid_t) -> Bool {
        guard let group = group(id: gid), let me = current, group.members.allSatisfy({ $0 == me.name }) else { return false }
        let primary = users(withPrimaryGroup: gid)
        return primary.allSatisfy { $0.uid == me.uid } && !(group.members.isEmpty && primary.isEmpty)
    }

    // MARK: Sources

    /// Where the files live: a test may point them elsewhere, as a chroot does.
    nonisolated(unsafe) static var directory = "/etc"

    private static func lookUp<Entry>(named name: String, in database: String, parse: (Substring) -> Entry?) -> Entry? {
        guard !name.isEmpty, !name.utf8.contains(where: { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\n") || $0 == 0 }) else {
            return nil
        }
        let prefix = name + ":"
        if let line = lines(of: database).first(where: { $0.hasPrefix(prefix) }), let entry = parse(line) { return entry }
        guard usesOtherSources(database), let line = getent([database, name]).first else { return nil }
        return parse(line[...])
    }

    private static func lookUp<Entry>(
        id: UInt32, in database: String, parse: (Substring) -> Entry?, matches: (Entry) -> Bool
    ) -> Entry? {
        if let entry = entries(of: database, parse: parse).first(where: matches) { return entry }
        guard usesOtherSources(database), let line = getent([database, String(id)]).first else { return nil }
        return parse(line[...]).flatMap { matches($0) ? $0 : nil }
    }

    private static func entries<Entry>(of database: String, parse: (Substring) -> Entry?) -> [Entry] {
        lines(of: database).compactMap(parse)
    }

    private static func lines(of database: String) -> [Substring] {
        guard let bytes = Posix.readFile(directory + "/" + database, limit: 64 << 20) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    }

    /// name:password:uid:gid:gecos:home:shell
    static func parseUser(_ line: Substring) -> User? {
        let fields = line.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 7, !fields[0].isEmpty, let uid = uid_t(fields[2]), let gid = gid_t(fields[3]) else { return nil }
        return User(name: String(fields[0]), uid: uid, gid: gid, home: String(fields[5]), shell: String(fields[6]))
    }

    /// name:password:gid:member,member
    static func parseGroup(_ line: Substring) -> Group? {
        let fields = line.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 4, !fields[0].isEmpty, let gid = gid_t(fields[2]) else { return nil }
        return Group(name: String(fields[0]), gid: gid, members: fields[3].split(separator: ",").map(String.init))
    }

    /// Whether nsswitch.conf names a source for `database` other than the files (compat reads the files too; a
    /// `+` line there names NIS, asked through getent as any other source).
    static func usesOtherSources(_ database: String) -> Bool {
        guard let bytes = Posix.readFile(directory + "/nsswitch.conf", limit: 1 << 20) else { return false }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingSpaces == database else { continue }
            // Words in brackets are actions ([NOTFOUND=return]), not sources.
            let sources = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).filter { !$0.hasPrefix("[") }
            return sources.contains { $0 != "files" && $0 != "compat" }
        }
        return false
    }

    /// getent's answer lines, or none when it is not there, fails, or says nothing within 5 s.
    private static func getent(_ arguments: [String]) -> [String] {
        let places: [String] = ["/usr/bin/getent", "/bin/getent", "/usr/sbin/getent"]
        guard let path = places.first(where: { access($0, X_OK) == 0 }),
            let output = try? Posix.pipe()
        else { return [] }
        defer { close(output.read) }
        let pid = try? Posix.spawnInNewSession(
            path, arguments: ["getent"] + arguments, environment: ["PATH=/usr/bin:/bin", "LC_ALL=C"],
            descriptors: [.open("/dev/null", flags: O_RDONLY, mode: 0), .copy(output.write), .open("/dev/null", flags: O_WRONLY, mode: 0)]
        )
        close(output.write)
        guard let pid else { return [] }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let deadline = Posix.milliseconds + 5000
        while bytes.count < 64 << 20 {
            var ready = pollfd(fd: output.read, events: Int16(POLLIN), revents: 0)
            let left = deadline - Posix.milliseconds
            guard left > 0, poll(&ready, 1, Int32(left)) > 0 else {
                kill(pid, SIGKILL)
                break
            }
            let count = read(output.read, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { return [] }
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
