import Glibc

/// Starting a local program with posix_spawn, in one place: ProxyCommand, Match exec and the connection keeper.
public enum ChildProcess {
    /// What one of the child's first descriptors (0, 1, 2, ...) becomes.
    public enum Descriptor {
        /// A copy of this descriptor of ours.
        case copy(Int32)
        /// A file opened for the child.
        case open(String, flags: Int32)
        /// Ours as it is.
        case inherited
    }

    public struct Failure: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { String(cString: strerror(code)) }
    }

    /// Starts `path` with `arguments` (the first is its name) and this process's environment.
    /// - `defaultSignals`: set back to their default action in the child (those this process ignores or handles).
    /// - `ownProcessGroup`: the child leads a process group of its own (a terminal's Ctrl-C is not its).
    /// - `emptySignalMask`: nothing blocked in the child, whatever this thread blocks.
    public static func spawn(
        _ path: String, arguments: [String], descriptors: [Descriptor], defaultSignals: [Int32] = [],
        ownProcessGroup: Bool = false, emptySignalMask: Bool = false
    ) throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, descriptor) in descriptors.enumerated() {
            switch descriptor {
            case let .copy(source): posix_spawn_file_actions_adddup2(&actions, source, Int32(target))
            case let .open(file, flags): posix_spawn_file_actions_addopen(&actions, Int32(target), file, flags, 0)
            case .inherited: break
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags: Int32 = 0
        if !defaultSignals.isEmpty {
            flags |= POSIX_SPAWN_SETSIGDEF
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for signal in defaultSignals { sigaddset(&defaults, signal) }
            posix_spawnattr_setsigdefault(&attributes, &defaults)
        }
        if ownProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        if emptySignalMask {
            flags |= POSIX_SPAWN_SETSIGMASK
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attributes, &none)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard status == 0 else { throw Failure(code: status) }
        return pid
    }
}
