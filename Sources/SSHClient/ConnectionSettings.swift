import Glibc
import Foundation

/// Everything needed to open one SSH connection, resolved from HOST, command-line options and ssh_config.
public struct ConnectionSettings: Sendable, Equatable {
    /// The host as the user wrote it (an alias or a name); used in messages.
    public var alias: String
    /// The address to connect to (ssh_config's HostName, or the alias).
    public var hostName: String
    public var port: Int
    public var user: String
    /// Identity files in the order to try, with whether the user named them (a missing named one is warned about).
    public var identityFiles: [IdentityFile]
    public var identitiesOnly: Bool
    /// The agent socket: nil for SSH_AUTH_SOCK, or a path; `"none"` turns the agent off.
    public var identityAgent: String?
    public var userKnownHostsFiles: [String]
    public var globalKnownHostsFiles: [String]
    public var strictHostKeyChecking: StrictHostKeyChecking
    /// Seconds allowed for TCP connect plus SSH handshake.
    public var connectTimeout: Int
    /// Seconds between keepalives when the server is silent; 0 turns keepalive off.
    public var serverAliveInterval: Int
    public var serverAliveCountMax: Int
    /// Never prompt, even on a terminal.
    public var batchMode: Bool
    public var pubkeyAuthentication: Bool
    public var passwordAuthentication: Bool
    public var kbdInteractiveAuthentication: Bool
    public var proxyJump: String?

    public struct IdentityFile: Sendable, Equatable {
        public var path: String
        public var isExplicit: Bool
    }

    /// Used when ssh_config sets no ConnectTimeout: ssh would wait for the kernel's TCP timeout and, past the
    /// connect, forever; pss bounds the whole handshake so that nothing hangs.
    public static let defaultConnectTimeout = 30
    /// Used when ssh_config sets no ServerAliveInterval (ssh's default is off): a dead peer is found within about
    /// interval × (count + 1) seconds instead of never.
    public static let defaultServerAliveInterval = 15

    /// The known_hosts name of this host: `host`, or `[host]:port` off port 22.
    public var knownHostsName: String {
        port == 22 ? hostName : "[\(hostName)]:\(port)"
    }
}

/// Resolves `ConnectionSettings` for a HOST the way ssh does: the first value obtained for a keyword wins, and the
/// command line comes before the user's ssh_config, which comes before the system's.
public struct SSHConfigResolver: Sendable {
    /// `-o`, `-i`, `-l`, `-p`, as config options, in command-line order.
    public var commandLine: [SSHConfig.Option]
    public var configs: [SSHConfig]

    public init(commandLine: [SSHConfig.Option] = [], configs: [SSHConfig]) {
        self.commandLine = commandLine
        self.configs = configs
    }

    /// Loads the configs ssh would read: `-F FILE` alone, or else `~/.ssh/config` and `/etc/ssh/ssh_config`
    /// where they exist.
    public static func load(configFile: String?, commandLine: [SSHConfig.Option]) throws -> SSHConfigResolver {
        let sshDirectory = LocalUser.home + "/.ssh"
        var configs: [SSHConfig] = []
        if let configFile {
            if configFile != "none" {
                configs.append(try SSHConfig.load(path: PathExpansion.tilde(configFile), includeBase: sshDirectory))
            }
        } else {
            for (path, base) in [(sshDirectory + "/config", sshDirectory), ("/etc/ssh/ssh_config", "/etc/ssh")]
            where access(path, R_OK) == 0 {
                configs.append(try SSHConfig.load(path: path, includeBase: base))
            }
        }
        return SSHConfigResolver(commandLine: commandLine, configs: configs)
    }

    /// Parses one `-o KEY=VALUE`.
    public static func commandLineOption(_ text: String) throws -> SSHConfig.Option {
        let parsed = try SSHConfig.parse(text, file: "-o '\(text.sanitizedForDisplay)'")
        guard parsed.entries.count == 1, case let .option(option) = parsed.entries[0] else {
            if let note = parsed.notes.first { throw SSHConfigError(file: "-o", line: 0, message: note) }
            throw SSHConfigError(file: "-o", line: 0, message: "'\(text.sanitizedForDisplay)' is not a single KEY=VALUE option")
        }
        return option
    }

    public var notes: [String] { configs.flatMap(\.notes) }

    public func resolve(_ spec: HostSpec) -> ConnectionSettings {
        var first: [SSHConfigKeyword: [String]] = [:]
        var identities: [String] = []
        let options = commandLine + configs.flatMap { $0.options(forHost: spec.host) }
        for option in options {
            if option.keyword.accumulates {
                identities.append(option.arguments[0])
            } else if first[option.keyword] == nil {
                first[option.keyword] = option.arguments
            }
        }
        let value = { (keyword: SSHConfigKeyword) in first[keyword]?.first }
        let flag = { (keyword: SSHConfigKeyword, fallback: Bool) in
            value(keyword).flatMap(SSHConfigKeyword.flag) ?? fallback
        }

        let hostName = value(.hostName).map { $0.replacingOccurrences(of: "%h", with: spec.host) } ?? spec.host
        let port = spec.port ?? value(.port).flatMap { Int($0) } ?? 22
        let user = spec.user ?? value(.user) ?? LocalUser.name
        let tokens = PercentTokens(alias: spec.host, hostName: hostName, port: port, remoteUser: user)

        var identityFiles = identities.map { ConnectionSettings.IdentityFile(path: tokens.expand($0), isExplicit: true) }
        if identityFiles.isEmpty {
            identityFiles = ["id_ed25519", "id_ecdsa", "id_rsa"].map {
                .init(path: LocalUser.home + "/.ssh/" + $0, isExplicit: false)
            }
        }
        let userKnownHosts = (first[.userKnownHostsFile] ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]).map(tokens.expand)
        let globalKnownHosts = (first[.globalKnownHostsFile] ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]).map(tokens.expand)

        let aliveInterval = value(.serverAliveInterval).flatMap(SSHConfigKeyword.seconds)
            ?? ConnectionSettings.defaultServerAliveInterval
        return ConnectionSettings(
            alias: spec.host,
            hostName: hostName,
            port: port,
            user: user,
            identityFiles: identityFiles,
            identitiesOnly: flag(.identitiesOnly, false),
            identityAgent: value(.identityAgent).map(tokens.expand),
            userKnownHostsFiles: userKnownHosts.filter { $0 != "none" },
            globalKnownHostsFiles: globalKnownHosts.filter { $0 != "none" },
            strictHostKeyChecking: value(.strictHostKeyChecking).flatMap(StrictHostKeyChecking.init(configValue:)) ?? .ask,
            connectTimeout: value(.connectTimeout).flatMap(SSHConfigKeyword.seconds).flatMap { $0 > 0 ? $0 : nil }
                ?? ConnectionSettings.defaultConnectTimeout,
            serverAliveInterval: aliveInterval,
            serverAliveCountMax: value(.serverAliveCountMax).flatMap { Int($0) } ?? 3,
            batchMode: flag(.batchMode, false),
            pubkeyAuthentication: flag(.pubkeyAuthentication, true),
            passwordAuthentication: flag(.passwordAuthentication, true),
            kbdInteractiveAuthentication: flag(.kbdInteractiveAuthentication, true),
            proxyJump: value(.proxyJump).flatMap { $0.lowercased() == "none" ? nil : $0 }
        )
    }
}

/// ssh_config's `%` tokens and `~`, for the keywords that take paths.
struct PercentTokens {
    var alias: String
    var hostName: String
    var port: Int
    var remoteUser: String

    func expand(_ text: String) -> String {
        var out = ""
        var iterator = PathExpansion.tilde(text).makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { out.append(character); continue }
            switch iterator.next() {
            case "%": out += "%"
            case "d": out += LocalUser.home
            case "h": out += hostName
            case "n": out += alias
            case "p": out += String(port)
            case "r": out += remoteUser
            case "u": out += LocalUser.name
            case "i": out += String(getuid())
            case let other?: out += "%" + String(other)
            case nil: out += "%"
            }
        }
        return out
    }
}
