import Glibc

/// Facts about the local accounts that trust decisions need, from libc: the client's. (The helper is static, links
/// no NSS, and reads the files itself: SessionHost's `AccountDatabase`.)
public enum UnixAccount {
    /// Whether the user is the only member of group `gid` (a user private group, as RHEL's umask 002 makes them
    /// group-writable): Debian's sshd counts such a group's write permission as the user's own. Users a directory
    /// service does not enumerate (SSSD, LDAP without enumeration) are not seen, as in sshd.
    ///
    /// The account database calls share static buffers and one scan position: one thread at a time.
    public static func isPrivateGroup(_ gid: gid_t) -> Bool {
        pthread_mutex_lock(databaseLock)
        defer { pthread_mutex_unlock(databaseLock) }
        guard let group = getgrgid(gid), let me = getpwuid(getuid()) else { return false }
        let myName = String(cString: me.pointee.pw_name)
        var members = 0
        if let listed = group.pointee.gr_mem, let first = listed[0] {
            guard String(cString: first) == myName, listed[1] == nil else { return false }
            members += 1
        }
        setpwent()
        defer { endpwent() }
        while let entry = getpwent() {
            guard entry.pointee.pw_gid == gid else { continue }
            if entry.pointee.pw_uid != getuid() { return false }
            members += 1
        }
        return members > 0
    }

    nonisolated(unsafe) private static let databaseLock: UnsafeMutablePointer<pthread_mutex_t> = {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        return lock
    }()
}
