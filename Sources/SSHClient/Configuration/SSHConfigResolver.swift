import Glibc

/// Resolves `ConnectionSettings` for a HOST the way ssh does: the command line is read first, then the user's
/// ssh_config, then the system's, and the first value obtained for a keyword wins. `Match` lines are tested against
/// what has been obtained when they are reached; a `Match final` (or CanonicalizeHostname) asks for a second reading
/// with the host name settled.
public struct SSHConfigResolver: Sendable {
    /// `-o`, `-i`, `-l`, `-p`, as config options, in command-line order.
    public var commandLine: [SSHConfig.Option]
    public var configs: [SSHConfig]

    public init(commandLine: [SSHConfig.Option] = [], configs: [SSHConfig]) {
        self.commandLine = commandLine
        self.configs = configs
    }

    /// Loads the configs ssh would read: `-F FILE` alone, or else `~/.ssh/config` (refused if another user could
    /// have written it, as ssh refuses it) and `/etc/ssh/ssh_config` where they exist.
    public static func load(configFile: String?, commandLine: [SSHConfig.Option]) throws -> SSHConfigResolver {
        let sshDirectory = LocalUser.home + "/.ssh"
        var configs: [SSHConfig] = []
        if let configFile {
            if configFile != "none" {
                configs.append(try SSHConfig.load(path: PathExpansion.tilde(configFile), includeBase: sshDirectory))
            }
        } else {
            let userConfig = sshDirectory + "/config"
            if access(userConfig, R_OK) == 0 {
                configs.append(try SSHConfig.load(path: userConfig, includeBase: sshDirectory, checkingPermissions: true))
            }
            if access("/etc/ssh/ssh_config", R_OK) == 0 {
                configs.append(try SSHConfig.load(path: "/etc/ssh/ssh_config", includeBase: "/etc/ssh"))
            }
        }
        return SSHConfigResolver(commandLine: commandLine, configs: configs)
    }

    /// Parses one `-o KEY=VALUE`.
    public static func commandLineOption(_ text: String) throws -> SSHConfig.Option {
        let parsed = try SSHConfig.parse(text, file: "-o '\(text.sanitizedForDisplay)'")
        guard parsed.entries.count == 1, case let .option(option) = parsed.entries[0] else {
            // In a file an unknown keyword is skipped with a note; given on the command line it is refused.
            if !parsed.notes.isEmpty {
                let keyword = text.prefix { $0 != "=" && $0 != " " && $0 != "\t" }
                throw SSHConfigError(
                    file: "-o", line: 0,
                    message: "'\(text.sanitizedForDisplay)' refused: pss does not use the keyword '\(String(keyword).sanitizedForDisplay)'")
            }
            throw SSHConfigError(file: "-o", line: 0, message: "'\(text.sanitizedForDisplay)' is not a single KEY=VALUE option")
        }
        return option
    }

    public var notes: [String] { configs.flatMap(\.notes) }

    /// ProxyCommand's words, read from the line as ssh_config's words are, made one shell line again: a word that
    /// held blanks (it was quoted) is single-quoted, so `sh -c 'nc %h %p'` stays three words.
    static func commandLine(_ words: [String]) -> String {
        words.map { word in
            guard word.contains(where: { $0 == " " || $0 == "\t" }) else { return word }
            return "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
        }.joined(separator: " ")
    }

    public func resolve(_ spec: HostSpec) throws -> ConnectionSettings {
        try resolveWithEvaluation(spec).0
    }

    /// The settings, and the reading they came from (the values as written, for `pss -G`).
    func resolveWithEvaluation(_ spec: HostSpec) throws -> (ConnectionSettings, ConfigEvaluation) {
        var evaluation = ConfigEvaluation(originalHost: spec.host)
        commandLine.forEach { evaluation.obtain($0) }
        // user@ and :port in HOST come after -l, -p and -o, as ssh takes user@host only when -l gave no user.
        if let user = spec.user { evaluation.obtain(.init(keyword: .user, arguments: [user], file: "HOST", line: 0)) }
        if let port = spec.port { evaluation.obtain(.init(keyword: .port, arguments: [String(port)], file: "HOST", line: 0)) }
        for config in configs { try config.apply(to: &evaluation) }
        let canonicalize = evaluation.value(.canonicalizeHostname).map { !["no", "false"].contains($0.lowercased()) } ?? false
        if evaluation.wantsFinalPass || canonicalize {
            evaluation.beginFinalPass()
            for config in configs { try config.apply(to: &evaluation) }
        }
        try Self.checkTokens(evaluation)
        return (settings(from: evaluation), evaluation)
    }

    /// HostName's `%` tokens ssh refuses ("percent_expand: unknown key"), as early as ssh does (`ssh -G` too):
    /// HostName takes only %h and %%. (Other keywords' tokens are expanded when used, as ssh expands them.)
    private static func checkTokens(_ evaluation: ConfigEvaluation) throws {
        for value in evaluation.values[.hostName] ?? [] {
            if let token = PercentTokens.unknownToken(in: value, allowed: "h%") {
                throw SSHConfigError(file: "HostName", line: 0, message: "'\(value.sanitizedForDisplay)': unknown token %\(token) (HostName takes %h and %%)")
            }
        }
    }

    private func settings(from evaluation: ConfigEvaluation) -> ConnectionSettings {
        let value = { (keyword: SSHConfigKeyword) in evaluation.value(keyword) }
        let flag = { (keyword: SSHConfigKeyword, fallback: Bool) in
            value(keyword).flatMap(SSHConfigKeyword.flag) ?? fallback
        }
        let alias = evaluation.originalHost
        let hostName = evaluation.currentHostName.asciiLowercased
        let port = evaluation.currentPort
        let user = evaluation.currentUser
        let tokens = PercentTokens(
            alias: alias, hostName: hostName, port: port, remoteUser: user,
            hostKeyAlias: value(.hostKeyAlias))

        var identityFiles = evaluation.identityFiles.map { ConnectionSettings.IdentityFile(path: tokens.expand($0), isExplicit: true) }
        if identityFiles.isEmpty {
            identityFiles = ["id_ed25519", "id_ecdsa", "id_rsa"].map {
                .init(path: LocalUser.home + "/.ssh/" + $0, isExplicit: false)
            }
        }
        let userKnownHosts = (evaluation.values[.userKnownHostsFile] ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]).map { tokens.expand($0) }
        let globalKnownHosts = (evaluation.values[.globalKnownHostsFile] ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]).map { tokens.expand($0) }

        let aliveInterval =
            value(.serverAliveInterval).flatMap(SSHConfigKeyword.seconds)
            ?? ConnectionSettings.defaultServerAliveInterval
        var settings = ConnectionSettings(
            alias: alias,
            hostName: hostName,
            port: port,
            user: user,
            identityFiles: identityFiles,
            identitiesOnly: flag(.identitiesOnly, false),
            identityAgent: value(.identityAgent).map { tokens.expand($0) },
            userKnownHostsFiles: userKnownHosts.filter { $0 != "none" },
            globalKnownHostsFiles: globalKnownHosts.filter { $0 != "none" },
            strictHostKeyChecking: value(.strictHostKeyChecking).flatMap(StrictHostKeyChecking.init(configValue:)) ?? .ask,
            hostKeyAlias: value(.hostKeyAlias),
            hashKnownHosts: flag(.hashKnownHosts, false),
            ciphers: AlgorithmList.resolve(value(.ciphers), kind: .ciphers),
            macs: AlgorithmList.resolve(value(.macs), kind: .macs),
            kexAlgorithms: AlgorithmList.resolve(value(.kexAlgorithms), kind: .kex),
            hostKeyAlgorithms: AlgorithmList.resolve(value(.hostKeyAlgorithms), kind: .hostKeys),
            hostKeyOrderFollowsKnownHosts: AlgorithmList.allowsKnownHostsOrder(value(.hostKeyAlgorithms)),
            connectTimeout: value(.connectTimeout).flatMap(SSHConfigKeyword.seconds).flatMap { $0 > 0 ? $0 : nil }
                ?? ConnectionSettings.defaultConnectTimeout,
            serverAliveInterval: aliveInterval,
            serverAliveCountMax: value(.serverAliveCountMax).flatMap { Int($0) } ?? 3,
            batchMode: flag(.batchMode, false),
            pubkeyAuthentication: flag(.pubkeyAuthentication, true),
            passwordAuthentication: flag(.passwordAuthentication, true),
            kbdInteractiveAuthentication: flag(.kbdInteractiveAuthentication, true),
            proxyJump: value(.proxyJump).flatMap { $0.lowercased() == "none" ? nil : $0 },
            proxyCommand: evaluation.values[.proxyCommand].map(Self.commandLine).flatMap {
                $0.lowercased() == "none" ? nil : tokens.expand($0, forExec: true)
            },
            knownHostsCommand: evaluation.values[.knownHostsCommand].map { $0.joined(separator: " ") }.flatMap { $0.lowercased() == "none" ? nil : $0 },
            revokedHostKeys: value(.revokedHostKeys).flatMap { $0.lowercased() == "none" ? nil : tokens.expand($0) },
            preferredAuthentications: value(.preferredAuthentications).map { $0.split(separator: ",").map(String.init) }
                ?? ["publickey", "keyboard-interactive", "password"]
        )
        settings.keeping = ConnectionKeeping(
            master: value(.controlMaster), persist: value(.controlPersist), path: value(.controlPath), expand: { tokens.expand($0) })
        return settings
    }
}
