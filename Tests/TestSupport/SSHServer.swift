import Foundation
import Glibc

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

        public init() {}
    }

    public let scratch: Scratch
    public let port: Int
    public let options: Options
    public var hostDirectory: String { options.hostDirectory ?? scratch.file("host-state") }
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
            "@USE_PAM@": options.keyboardInteractive ? "yes" : "no",
            "@PASSWORD@": options.passwordAuthentication ? "yes" : "no",
            "@KBDINT@": options.keyboardInteractive ? "yes" : "no",
            "@HOST_KEYS@": options.hostKeyTypes.map { "HostKey \(scratch.file("host_\($0)"))" }.joined(separator: "\n"),
            "@EXTRA@": options.extraConfig.joined(separator: "\n"),
            "@USER@": "root", "@HOST_DIR@": hostDirectory,
        ]
        for (placeholder, value) in values { config = config.replacingOccurrences(of: placeholder, with: value) }
        scratch.write("sshd_config", config)
        start()
    }

    deinit { stop() }

    public func start() {
        guard process == nil else { return }
        process = try! ProcessRunner.start("/usr/sbin/sshd", ["-D", "-e", "-f", scratch.file("sshd_config"),
                                                              "-E", scratch.file("sshd.log")])
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
    public static func ensure(_ name: String, password: String) {
        if getpwnam(name) == nil {
            shell("useradd --create-home --shell /bin/sh '\(name)'")
        }
        // sshd without PAM refuses locked accounts; a password also unlocks key logins.
        shell("echo '\(name):\(password)' | chpasswd")
    }
}

/// Facts about processes, read from /proc (zombies count as gone: they no longer run).
public enum Processes {
    public static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
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

    /// Waits until `condition` holds (an event, polled), at most `limit` seconds; returns whether it did.
    @discardableResult
    /// The host daemon serving `server` (its helper runs from the server's host directory), if one runs.
    public static func daemon(of server: SSHServer) -> Int32? {
        running(under: server.hostDirectory).first { pid in
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return cmdline.split(separator: "\0").last == "daemon"
        }
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
