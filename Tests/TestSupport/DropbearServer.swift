import Foundation
import Glibc

/// A real dropbear server (Debian's dropbear-bin) on a free loopback port, with a generated ed25519 host key, run in
/// the foreground and owned by the test. Dropbear has no AuthorizedKeysFile and passes no environment of its own:
/// keys go in the user's ~/.ssh/authorized_keys, and the user's default host directory is used.
public final class DropbearServer {
    public let scratch = Scratch("dropbear")
    public let port = freePort()
    private var process: RunningProcess?

    public init() {
        let key = scratch.file("host_ed25519")
        shell("dropbearkey -t ed25519 -f '\(key)' > '\(scratch.file("host_ed25519.out"))' 2>&1")
        process = try! ProcessRunner.start("/usr/sbin/dropbear", ["-F", "-E", "-s", "-p", "127.0.0.1:\(port)", "-r", key])
        precondition(waitForListener(port: port), "dropbear did not start on port \(port)")
    }

    deinit {
        process?.signal(SIGTERM)
        _ = process?.wait(limit: 10)
    }

    /// The public host key, `ssh-ed25519 AAAA...`, as dropbearkey printed it.
    public var hostPublicKey: String {
        let printed = scratch.read("host_ed25519.out").split(separator: "\n").first { $0.hasPrefix("ssh-ed25519 ") } ?? ""
        return printed.split(separator: " ").prefix(2).joined(separator: " ")
    }

    public func knownHostsLine() -> String {
        "[127.0.0.1]:\(port) \(hostPublicKey)"
    }

    /// Lets `publicKey` log in as `user`, in the user's own ~/.ssh/authorized_keys (dropbear checks its modes).
    public func authorize(_ publicKey: String, user: String) {
        let home = String(cString: getpwnam(user)!.pointee.pw_dir)
        shell(
            "mkdir -p '\(home)/.ssh' && echo '\(publicKey.trimmingCharacters(in: .newlines))' >> '\(home)/.ssh/authorized_keys' && "
                + "chown -R \(user): '\(home)/.ssh' && chmod 700 '\(home)/.ssh' && chmod 600 '\(home)/.ssh/authorized_keys' && chmod go-w '\(home)'")
    }
}
