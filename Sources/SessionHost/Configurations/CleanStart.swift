import Glibc

/// The state a runAs configuration's shared daemon starts from, whoever starts it: it serves every allowed user,
/// so nothing of the first caller's process may stay in it. sudo gives it the runAs user's identity, but passes on
/// what a caller can shape: `sudo -P` keeps the caller's supplementary groups, and resource limits go through
/// unchanged. Without root nothing of that can be undone (a lowered hard limit stays lowered), so the way in
/// refuses to start from such a state, and the daemon takes the rest from nobody: its soft limits raised to the
/// hard ones, a fixed umask, an environment built from the account and the system's locale, its own session.
enum CleanStart {
    /// Why this process (the runAs user's, under sudo) may not start or reach the shared daemon, or nil.
    static func problem(runAs account: AccountDatabase.User, configuration name: String) -> String? {
        let expected = Set(AccountDatabase.groups(of: account).map(\.gid) + [account.gid])
        if Set(currentGroups() + [getegid()]) != expected {
            return
                "configuration \(name): sudo kept the caller's groups (sudo -P?): its daemon starts only with \(account.name)'s own groups, as sudo gives them without -P"
        }
        for floor in floors {
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(UInt32(floor.resource)), &limit) == 0 else { continue }
            if limit.rlim_max != unlimited && limit.rlim_max < floor.minimum {
                return
                    "configuration \(name): the \(floor.name) limit is lowered to \(limit.rlim_max) (a caller's ulimit -H, or limits.conf): its daemon, shared by every allowed user, starts only under at least \(floor.minimum == unlimited ? "unlimited" : String(floor.minimum))"
            }
        }
        return nil
    }

    /// Hard limits below which the shared daemon does not start: what it needs to serve everyone (descriptors,
    /// processes), and those whose end kills it or stops its spools (CPU time, file size).
    private static let floors: [(name: String, resource: Int32, minimum: rlim_t)] = [
        ("open files", Resource.openFiles, 1024), ("processes", Resource.processes, 1024),
        ("CPU time", Resource.cpuTime, unlimited), ("file size", Resource.fileSize, unlimited),
        ("address space", Resource.addressSpace, unlimited), ("data size", Resource.dataSize, unlimited),
        ("stack size", Resource.stackSize, Resource.usualStack),
    ]

    private static let unlimited = rlim_t.max  // RLIM_INFINITY

    /// Linux's resource numbers (the Glibc module exports only some of their names).
    private enum Resource {
        static let cpuTime: Int32 = 0, fileSize: Int32 = 1, dataSize: Int32 = 2, stackSize: Int32 = 3, residentSet: Int32 = 5, processes: Int32 = 6
        static let openFiles: Int32 = 7, lockedMemory: Int32 = 8, addressSpace: Int32 = 9, fileLocks: Int32 = 10
        static let pendingSignals: Int32 = 11, messageQueues: Int32 = 12
        /// The stack every Linux login gets (8 MiB), not the hard limit (often unlimited, which changes how
        /// programs' memory is laid out).
        static let usualStack: rlim_t = 8 << 20
    }

    /// Every soft limit a caller may have lowered, raised to its hard limit (the core size stays as it is; the
    /// stack is the usual 8 MiB).
    static func raiseSoftLimits() {
        let resources = [
            Resource.cpuTime, Resource.fileSize, Resource.dataSize, Resource.residentSet, Resource.processes, Resource.openFiles,
            Resource.lockedMemory, Resource.addressSpace, Resource.fileLocks, Resource.pendingSignals, Resource.messageQueues,
        ]
        for resource in resources {
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(UInt32(resource)), &limit) == 0, limit.rlim_cur != limit.rlim_max else { continue }
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(__rlimit_resource_t(UInt32(resource)), &limit)
        }
        var stack = rlimit()
        if getrlimit(__rlimit_resource_t(UInt32(Resource.stackSize)), &stack) == 0, stack.rlim_cur != Resource.usualStack {
            stack.rlim_cur = min(Resource.usualStack, stack.rlim_max)
            _ = setrlimit(__rlimit_resource_t(UInt32(Resource.stackSize)), &stack)
        }
    }

    /// The shared daemon's environment: the account's, a fixed PATH, and the system's locale (/etc/default/locale,
    /// /etc/locale.conf), never the first caller's LANG or TZ.
    static func environment(for account: AccountDatabase.User) -> [String] {
        var result = [
            "HOME=\(account.home)", "USER=\(account.name)", "LOGNAME=\(account.name)", "SHELL=\(account.shell)",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        for file in ["/etc/default/locale", "/etc/locale.conf"] {
            guard let bytes = Posix.readFile(file, limit: 1 << 16) else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, parts[0] == "LANG" || parts[0] == "LANGUAGE" || parts[0].hasPrefix("LC_") else { continue }
                let value = parts[1].trimmingCharacters(in: "\"'")
                if !value.isEmpty, !SessionConfiguration.hasControlBytes(value) { result.append("\(parts[0])=\(value)") }
            }
            break
        }
        return result
    }

    private static func currentGroups() -> [gid_t] {
        let count = getgroups(0, nil)
        guard count > 0 else { return [] }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let got = getgroups(count, &groups)
        return Array(groups.prefix(Int(max(got, 0))))
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}
