import Foundation
import Glibc

/// A simulated client machine: its own HOME (with ~/.ssh), its own PSS_CLIENT_DIR, an ed25519 key authorized on
/// the servers it is given, and an ssh_config with one `Host` alias per server.
public final class ClientMachine {
    public let scratch: Scratch
    public var home: String { scratch.file("home") }
    public var sshDirectory: String { home + "/.ssh" }
    public var configPath: String { sshDirectory + "/config" }
    public var knownHostsPath: String { sshDirectory + "/known_hosts" }
    public var identityPath: String { sshDirectory + "/id_ed25519" }
    /// Extra environment for every pss run (e.g. SSH_AUTH_SOCK).
    public var environment: [String: String] = [:]

    /// `servers`: alias → server. Each server authorizes this machine's key for root and gets a known_hosts
    /// entry; the aliases use StrictHostKeyChecking yes so that any key surprise fails loudly.
    public init(servers: [String: SSHServer] = [:], extraHostConfig: [String] = []) {
        scratch = Scratch("client")
        shell("mkdir -p '\(sshDirectory)' && chmod 700 '\(sshDirectory)'")
        shell("ssh-keygen -q -t ed25519 -N '' -C client -f '\(identityPath)'")
        var config: [String] = []
        var knownHosts: [String] = []
        for (alias, server) in servers.sorted(by: { $0.key < $1.key }) {
            server.authorize(publicKey)
            knownHosts.append(server.knownHostsLine())
            config += hostBlock(alias: alias, server: server) + extraHostConfig.map { "    " + $0 }
        }
        writeConfig(config)
        try! (knownHosts.map { $0 + "\n" }.joined()).write(toFile: knownHostsPath, atomically: true, encoding: .utf8)
    }

    /// A machine whose one host, `alias`, is `server` on loopback, logged into as `user` with this machine's key:
    /// authorized there, its host key known here.
    public convenience init(loggingInAs user: String, to server: some LoopbackServer, alias: String = "h") {
        self.init()
        server.authorize(publicKey, user: user)
        writeConfig(hostBlock(alias: alias, port: server.port, user: user))
        try! (server.knownHostsEntry + "\n").write(toFile: knownHostsPath, atomically: true, encoding: .utf8)
    }

    public var publicKey: String {
        (try? String(contentsOfFile: identityPath + ".pub", encoding: .utf8)) ?? ""
    }

    public func hostBlock(alias: String, server: SSHServer, port: Int? = nil, user: String = "root") -> [String] {
        hostBlock(alias: alias, port: port ?? server.port, user: user)
    }

    /// The block for any server on loopback at `port` (dropbear's, a proxy's), at `address` (127.0.0.0/8).
    public func hostBlock(alias: String, port: Int, user: String = "root", address: String = "127.0.0.1") -> [String] {
        [
            "Host \(alias)",
            "    HostName \(address)",
            "    Port \(port)",
            "    User \(user)",
            "    IdentityFile \(identityPath)",
            "    IdentitiesOnly yes",
            "    StrictHostKeyChecking yes",
            "    UserKnownHostsFile \(knownHostsPath)",
            "    GlobalKnownHostsFile none",
        ]
    }

    /// Adds an alias that reaches `server` through `port` (a proxy's), with extra ssh_config lines, and records
    /// the server's key under that port.
    public func addHost(alias: String, server: SSHServer, port: Int, extra: [String] = []) {
        let config = (try? String(contentsOfFile: configPath, encoding: .utf8)) ?? ""
        let block = hostBlock(alias: alias, server: server, port: port) + extra.map { "    " + $0 }
        try! (block.joined(separator: "\n") + "\n" + config).write(toFile: configPath, atomically: true, encoding: .utf8)
        let known = (try? String(contentsOfFile: knownHostsPath, encoding: .utf8)) ?? ""
        try! (known + "[127.0.0.1]:\(port) \(server.hostPublicKey())\n").write(toFile: knownHostsPath, atomically: true, encoding: .utf8)
    }

    /// Writes the config, ending with `Host *` / `ControlMaster no`: tests connect on their own unless they ask for
    /// kept connections (KeptConnectionTests), so that no keeper outlives them.
    public func writeConfig(_ lines: [String]) {
        let text = (lines + ["Host *", "    ControlMaster no"]).joined(separator: "\n") + "\n"
        try! text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    public var baseEnvironment: [String: String] {
        var env = ["HOME": home, "PSS_CLIENT_DIR": scratch.file("pss-client"), "LC_ALL": "C"]
        for (key, value) in environment { env[key] = value }
        return env
    }

    /// Runs the real `pss` binary as this client, with no terminal.
    public func pss(_ arguments: [String], stdin: Data? = nil, limit: Double = 60) -> ProcessResult {
        ProcessRunner.run(
            PSSBinary.path, ["-F", configPath] + arguments, environment: baseEnvironment,
            stdin: stdin, limit: limit)
    }

    /// `pss` without the -F this machine's config adds (to test -F's absence, ~/.ssh/config, etc.).
    public func pssRaw(_ arguments: [String], stdin: Data? = nil, limit: Double = 60) -> ProcessResult {
        ProcessRunner.run(PSSBinary.path, arguments, environment: baseEnvironment, stdin: stdin, limit: limit)
    }
}

/// Where the built `pss` is: beside the test bundle, in the build's products directory.
public enum PSSBinary {
    public static var path: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = (executable as NSString).deletingLastPathComponent
        // xctest bundles on Linux may sit one level deeper than the products.
        while !directory.isEmpty, directory != "/" {
            let candidate = directory + "/pss"
            if access(candidate, X_OK) == 0, !candidate.hasSuffix(".xctest/pss") { return candidate }
            directory = (directory as NSString).deletingLastPathComponent
        }
        fatalError("pss binary not found near \(executable); run `swift build` first")
    }
}
