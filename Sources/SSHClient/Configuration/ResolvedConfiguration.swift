/// What `pss -G HOST` prints: the configuration pss resolved for a host, one `keyword value` a line in lower case, for
/// every keyword pss uses, in the form `ssh -G` prints it (the values are ssh's for the same inputs, except pss's own
/// defaults where it differs from ssh: ConnectTimeout, ServerAliveInterval, the default identity files).
public enum ResolvedConfiguration {
    public static func lines(for spec: HostSpec, resolver: SSHConfigResolver) throws -> [(keyword: String, value: String)] {
        let (settings, evaluation) = try resolver.resolveWithEvaluation(spec)
        let raw = { (keyword: SSHConfigKeyword) in evaluation.values[keyword]?.joined(separator: " ") }
        let yesNo = { (flag: Bool) in flag ? "yes" : "no" }
        var lines: [(String, String)] = [
            ("host", spec.host),
            ("user", settings.user),
            ("hostname", settings.hostName),
            ("port", String(settings.port)),
            ("batchmode", yesNo(settings.batchMode)),
            ("canonicalizehostname", raw(.canonicalizeHostname).map(canonicalizeValue) ?? "false"),
            ("hashknownhosts", yesNo(settings.hashKnownHosts)),
            ("identitiesonly", yesNo(settings.identitiesOnly)),
            ("kbdinteractiveauthentication", yesNo(settings.kbdInteractiveAuthentication)),
            ("passwordauthentication", yesNo(settings.passwordAuthentication)),
            ("pubkeyauthentication", settings.pubkeyAuthentication ? "true" : "false"),
            ("stricthostkeychecking", strictValue(settings.strictHostKeyChecking)),
            ("serveralivecountmax", String(settings.serverAliveCountMax)),
            ("serveraliveinterval", String(settings.serverAliveInterval)),
            ("ciphers", settings.ciphers.joined(separator: ",")),
            ("hostkeyalgorithms", settings.hostKeyAlgorithms.joined(separator: ",")),
        ]
        if let alias = settings.hostKeyAlias { lines.append(("hostkeyalias", alias.asciiLowercased)) }
        if let agent = settings.identityAgent { lines.append(("identityagent", agent)) }
        lines += [
            ("kexalgorithms", settings.kexAlgorithms.joined(separator: ",")),
            ("macs", settings.macs.joined(separator: ",")),
        ]
        if let value = raw(.preferredAuthentications) { lines.append(("preferredauthentications", value)) }
        if let value = settings.proxyCommand { lines.append(("proxycommand", value)) }
        if let value = raw(.proxyJump), value.lowercased() != "none" { lines.append(("proxyjump", value)) }
        if let value = settings.knownHostsCommand { lines.append(("knownhostscommand", value)) }
        if let value = raw(.revokedHostKeys), value.lowercased() != "none" { lines.append(("revokedhostkeys", value)) }
        // As ssh prints them: as written (its tokens unexpanded); pss's defaults, in ~/.ssh, when none is.
        let identityFiles =
            evaluation.identityFiles.isEmpty
            ? settings.identityFiles.map { "~/.ssh/" + ($0.path.split(separator: "/").last.map(String.init) ?? $0.path) }
            : evaluation.identityFiles
        lines += identityFiles.map { ("identityfile", $0) }
        lines.append(("globalknownhostsfile", raw(.globalKnownHostsFile) ?? "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"))
        lines.append(
            (
                "userknownhostsfile",
                raw(.userKnownHostsFile)?.lowercased() == "none"
                    ? "none"
                    : settings.userKnownHostsFiles.joined(separator: " ")
            ))
        lines.append(("connecttimeout", String(settings.connectTimeout)))
        // pss's own defaults: connections are kept (in the client directory) for 10 minutes after the last session.
        let master = raw(.controlMaster)?.lowercased() ?? "auto"
        lines.append(("controlmaster", SSHConfigKeyword.flag(master).map { $0 ? "true" : "false" } ?? master))
        if let path = settings.keeping.path { lines.append(("controlpath", String(path.dropLast(".pss".count)))) }
        let persist =
            raw(.controlPersist) == nil
            ? String(ConnectionKeeping.defaultLinger) : settings.keeping.linger.map { $0 == 0 ? "no" : String($0) } ?? "yes"
        lines.append(("controlpersist", persist))
        return lines
    }

    private static func strictValue(_ policy: StrictHostKeyChecking) -> String {
        switch policy {
        case .yes: return "true"
        case .no: return "false"
        case .ask: return "ask"
        case .acceptNew: return "accept-new"
        }
    }

    private static func canonicalizeValue(_ value: String) -> String {
        switch value.lowercased() {
        case "yes", "true": return "true"
        case "always": return "always"
        default: return "false"
        }
    }
}
