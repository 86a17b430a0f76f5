import Foundation
import Glibc
import SessionWire

/// A real OpenSSH server (Debian's sshd) on a free loopback port, with generated host keys, run in the
/// foreground and owned by the test. Each instance is a "host" with its own PSS_HOST_DIR (set with SetEnv).
public final class SSHServer {
    public struct Options {
        public var hostKeyTypes: [String] = ["ed25519"]
        public var passwordAuthentication = false
        /// PAM-backed keyboard-interactive (UsePAM yes), the way most servers ask for passwords.
        public var keyboardInteractive = false
        public var extraConfig: [String] = []
        /// PSS_HOST_DIR for this host (default: a directory in the fixture's scratch space).
        public var hostDirectory: String?
        /// More environment sshd sets for the user (SetEnv), as a login on a real host may bring.
        public var environment: [String: String] = [:]
        /// Programs made unusable for this sshd and everything it starts (a /dev/null bind-mounted over each, in a
        /// mount namespace of its own), as on a host that lacks them.
        public var hiddenPrograms: [String] = []
        /// Programs replaced for this sshd and everything it starts (a file bind-mounted over each: path → file), as
        /// on a host where they answer otherwise (`uname` on another CPU).
        public var replacedPrograms: [String: String] = [:]
        /// A PAM stack of the test's own for keyboard-interactive (sshd takes its PAM service name from its program
        /// name: it is started through a link of that name, and /etc/pam.d/NAME is removed with the server).
        public var pamStack: [String]?
        /// A network namespace to run in (reachable only inside it, or through a bridge).
        public var namespace: NetworkNamespace?

        public init() {}
    }

    public let scratch: Scratch
    public let port: Int
    public let options: Options
    public var hostDirectory: String { options.hostDirectory ?? scratch.file("host-state") }
    /// Where this host's daemon keeps its sessions (by protocol version).
    public var sessionsDirectory: String { hostDirectory + "/sessions-v\(WireProtocol.version)" }
    private var process: RunningProcess?

    public init(_ options: Options = Options()) {
        self.options = options
        scratch = Scratch("sshd")
        port = freePort()
        shell("mkdir -p /run/sshd '\(scratch.file("authorized_keys"))'")
        for type in options.hostKeyTypes {
            shell("ssh-keygen -q -t \(type) -N '' -C host-\(type) -f '\(scratch.file("host_\(type)"))'")
        }
        // Config/sshd_config.test, shared with scripts/demo and scripts/bench.
        let template = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/sshd_config.test")
        var config = try! String(contentsOf: template, encoding: .utf8)
        let values = [
            "@PORT@": String(port), "@DIR@": scratch.path,
            "@USE_PAM@": options.keyboardInteractive || options.pamStack != nil ? "yes" : "no",
            "@PASSWORD@": options.passwordAuthentication ? "yes" : "no",
            "@KBDINT@": options.keyboardInteractive || options.pamStack != nil ? "yes" : "no",
            "@HOST_KEYS@": options.hostKeyTypes.map { "HostKey \(scratch.file("host_\($0)"))" }.joined(separator: "\n"),
            "@EXTRA@": options.extraConfig.joined(separator: "\n"),
            "@USER@": "root", "@HOST_DIR@": hostDirectory,
            "@SETENV@": options.environment.sorted { $0.key < $1.key }.map { " \"\($0.key)=\($0.value)\"" }.joined(),
        ]
        for (placeholder, value) in values { config = config.replacingOccurrences(of: placeholder, with: value) }
        scratch.write("sshd_config", config)
        start()
    }

    deinit {
        stop()
        if let service = pamService { unlink("/etc/pam.d/" + service) }
        // No test leaves a daemon behind: whatever still runs from this host's directory ends with it (its
        // sessions' shells lose their terminal and end too).
        for pid in Processes.running(under: hostDirectory) { kill(pid, SIGKILL) }
    }

    /// The PAM service of `pamStack`: a name of this server's own.
    private var pamService: String? {
        options.pamStack.map { _ in "pss-test-sshd-\(port)" }
    }

    public func start() {
        guard process == nil else { return }
        var program = "/usr/sbin/sshd"
        if let service = pamService, let stack = options.pamStack {
            try! (stack.joined(separator: "\n") + "\n").write(toFile: "/etc/pam.d/" + service, atomically: true, encoding: .utf8)
            program = scratch.file(service)
            if access(program, F_OK) != 0 { symlink("/usr/sbin/sshd", program) }
        }
        let sshd = [program, "-D", "-e", "-f", scratch.file("sshd_config"), "-E", scratch.file("sshd.log")]
        if let namespace = options.namespace {
            let command = namespace.prefix(sshd)
            process = try! ProcessRunner.start(command[0], Array(command.dropFirst()))
            precondition(namespace.waitForListener(port: port), "sshd did not start in \(namespace.name):\n\(scratch.read("sshd.log"))")
            return
        }
        let overlays = options.hiddenPrograms.map { ($0, "/dev/null") } + options.replacedPrograms.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if overlays.isEmpty {
            process = try! ProcessRunner.start(sshd[0], Array(sshd.dropFirst()))
        } else {
            // unshare execs the shell, which execs sshd: one process, in a mount namespace where the programs are gone.
            let mounts = overlays.map { "mount --bind '\($0.1)' '\($0.0)' && " }.joined()
            process = try! ProcessRunner.start(
                "/usr/bin/unshare",
                [
                    "-m", "--propagation", "private", "/bin/sh", "-c",
                    mounts + "exec " + sshd.map { "'\($0)'" }.joined(separator: " "),
                ])
        }
        precondition(waitForListener(port: port), "sshd did not start on port \(port):\n\(scratch.read("sshd.log"))")
    }

    public func stop() {
        guard let process else { return }
        process.signal(SIGTERM)
        _ = process.wait(limit: 10)
        self.process = nil
    }

    /// The public half of a host key: `ssh-ed25519 AAAA...`.
    public func hostPublicKey(_ type: String = "ed25519") -> String {
        scratch.read("host_\(type).pub").split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// The known_hosts line for this server's key of `type`.
    public func knownHostsLine(_ type: String = "ed25519") -> String {
        "[127.0.0.1]:\(port) \(hostPublicKey(type))"
    }

    /// Lets `publicKey` (an authorized_keys line) log in as `user`.
    public func authorize(_ publicKey: String, user: String = "root") {
        let path = scratch.file("authorized_keys/\(user)")
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        try! (existing + publicKey.trimmingCharacters(in: .newlines) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
    }

    public var log: String { scratch.read("sshd.log") }
}

/// A local account for tests that need a user other than root (password logins, ownership).
public enum LocalAccount {
    /// Runs a shell command line as `name` (setpriv: that user's uid, gid and groups, no terminal).
    @discardableResult
    public static func run(_ name: String, _ command: String, limit: Double = 60) -> ProcessResult {
        ProcessRunner.run(
            "/usr/bin/setpriv", ["--reuid", name, "--regid", name, "--init-groups", "/bin/sh", "-c", command],
            environment: ["HOME": "/tmp"], limit: limit)
    }

    public static func ensure(_ name: String, password: String, shell loginShell: String = "/bin/sh") {
        if getpwnam(name) == nil {
            shell("useradd --create-home --shell '\(loginShell)' '\(name)'")
        }
        // sshd without PAM refuses locked accounts; a password also unlocks key logins.
        shell("echo '\(name):\(password)' | chpasswd")
    }

    /// Removes an account made by `ensure`, its home, and every process it still runs.
    public static func remove(_ name: String) {
        guard getpwnam(name) != nil else { return }
        _ = ProcessRunner.run("/usr/bin/pkill", ["-KILL", "-u", name])
        _ = Processes.waitUntil(limit: 10) { ProcessRunner.run("/usr/bin/pgrep", ["-u", name]).status != 0 }
        shell("userdel --remove '\(name)' 2>/dev/null || userdel '\(name)'")
    }
}

/// Facts about processes, read from /proc (zombies count as gone: they no longer run).
public enum Processes {
    public static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }

    /// Running processes whose executable lies under `directory`.
    public static func running(under directory: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else { return false }
            return exe.hasPrefix(directory) && isRunning(pid)
        }
    }

    /// Processes whose command line matches `pattern` (pgrep -f's extended regular expression).
    public static func matching(_ pattern: String) -> [Int32] {
        ProcessRunner.run("/usr/bin/pgrep", ["-f", pattern]).stdoutText.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Waits until `condition` holds (an event, polled), at most `limit` seconds; returns whether it did.
    @discardableResult
    /// The host daemon serving `server` (its helper runs from the server's host directory), if one runs.
    public static func daemon(of server: SSHServer) -> Int32? {
        running(under: server.hostDirectory).first { pid in
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return cmdline.split(separator: "\0").last == "daemon"
        }
    }

    /// How many descriptors `pid` holds open.
    public static func openDescriptors(_ pid: Int32) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
    }

    /// CPU time `pid` has used (user and system), in clock ticks.
    public static func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    /// Resident memory of `pid`, in KiB (VmRSS).
    public static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }

    public static func waitUntil(limit: Double = 20, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}
