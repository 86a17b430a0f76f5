/// The ssh_config keywords pss reads. Others are ignored (with a note under `-v`), so a config written for ssh
/// stays usable.
public enum SSHConfigKeyword: String, Sendable, CaseIterable {
    case host, match, include
    case hostName = "hostname"
    case port, user
    case identityFile = "identityfile"
    case identitiesOnly = "identitiesonly"
    case identityAgent = "identityagent"
    case userKnownHostsFile = "userknownhostsfile"
    case globalKnownHostsFile = "globalknownhostsfile"
    case strictHostKeyChecking = "stricthostkeychecking"
    case hostKeyAlias = "hostkeyalias"
    case hashKnownHosts = "hashknownhosts"
    case ciphers
    case macs
    case kexAlgorithms = "kexalgorithms"
    case hostKeyAlgorithms = "hostkeyalgorithms"
    case canonicalizeHostname = "canonicalizehostname"
    case connectTimeout = "connecttimeout"
    case serverAliveInterval = "serveraliveinterval"
    case serverAliveCountMax = "serveralivecountmax"
    case batchMode = "batchmode"
    case passwordAuthentication = "passwordauthentication"
    case pubkeyAuthentication = "pubkeyauthentication"
    case kbdInteractiveAuthentication = "kbdinteractiveauthentication"
    case proxyJump = "proxyjump"
    case proxyCommand = "proxycommand"
    case knownHostsCommand = "knownhostscommand"
    case revokedHostKeys = "revokedhostkeys"
    case preferredAuthentications = "preferredauthentications"
    case controlMaster = "controlmaster"
    case controlPersist = "controlpersist"
    case controlPath = "controlpath"

    /// Whether every occurrence counts (IdentityFile) rather than only the first.
    var accumulates: Bool { self == .identityFile }

    func validate(_ arguments: [String], fail: (String) -> SSHConfigError) throws {
        let name = displayName
        guard let first = arguments.first else { throw fail("\(name) needs a value") }
        func single() throws {
            if arguments.count > 1 { throw fail("\(name) takes one value, got \(arguments.count)") }
        }
        switch self {
        case .port:
            try single()
            guard let port = Int(first), (1...65535).contains(port) else { throw fail("bad port '\(first.sanitizedForDisplay)'") }
        case .connectTimeout, .serverAliveInterval:
            try single()
            guard SSHConfigKeyword.seconds(first) != nil else { throw fail("bad time '\(first.sanitizedForDisplay)' for \(name)") }
        case .serverAliveCountMax:
            try single()
            guard let count = Int(first), count >= 0 else { throw fail("bad number '\(first.sanitizedForDisplay)' for \(name)") }
        case .identitiesOnly, .batchMode, .passwordAuthentication, .pubkeyAuthentication, .kbdInteractiveAuthentication,
            .hashKnownHosts:
            try single()
            guard SSHConfigKeyword.flag(first) != nil else { throw fail("\(name) must be yes or no, not '\(first.sanitizedForDisplay)'") }
        case .strictHostKeyChecking:
            try single()
            guard StrictHostKeyChecking(configValue: first) != nil else {
                throw fail("StrictHostKeyChecking must be yes, ask, accept-new or no, not '\(first.sanitizedForDisplay)'")
            }
        case .canonicalizeHostname:
            try single()
            guard ["yes", "no", "always", "none", "true", "false"].contains(first.lowercased()) else {
                throw fail("CanonicalizeHostname must be yes, no, always or none, not '\(first.sanitizedForDisplay)'")
            }
        case .ciphers, .macs, .kexAlgorithms, .hostKeyAlgorithms:
            try single()
            if let problem = AlgorithmList.Kind(self)?.problem(with: first) { throw fail(problem) }
        case .hostName, .user, .identityFile, .identityAgent, .proxyJump, .hostKeyAlias, .revokedHostKeys,
            .preferredAuthentications:
            try single()
        case .controlMaster:
            try single()
            guard ["yes", "no", "ask", "auto", "autoask", "true", "false"].contains(first.lowercased()) else {
                throw fail("ControlMaster must be yes, no, ask, auto or autoask, not '\(first.sanitizedForDisplay)'")
            }
        case .controlPersist:
            try single()
            guard SSHConfigKeyword.flag(first) != nil || SSHConfigKeyword.seconds(first) != nil else {
                throw fail("ControlPersist must be yes, no or a time, not '\(first.sanitizedForDisplay)'")
            }
        case .controlPath:
            try single()
        case .proxyCommand, .knownHostsCommand:
            break  // a command line, its words as written
        case .userKnownHostsFile, .globalKnownHostsFile, .host, .match, .include:
            break
        }
    }

    /// The keyword as ssh_config(5) spells it.
    public var displayName: String {
        Self.displayNames[self] ?? rawValue
    }

    private static let displayNames: [SSHConfigKeyword: String] = [
        .hostName: "HostName", .port: "Port", .user: "User", .identityFile: "IdentityFile",
        .identitiesOnly: "IdentitiesOnly", .identityAgent: "IdentityAgent",
        .userKnownHostsFile: "UserKnownHostsFile", .globalKnownHostsFile: "GlobalKnownHostsFile",
        .strictHostKeyChecking: "StrictHostKeyChecking", .hostKeyAlias: "HostKeyAlias",
        .hashKnownHosts: "HashKnownHosts", .ciphers: "Ciphers", .macs: "MACs", .kexAlgorithms: "KexAlgorithms",
        .hostKeyAlgorithms: "HostKeyAlgorithms", .canonicalizeHostname: "CanonicalizeHostname",
        .connectTimeout: "ConnectTimeout",
        .serverAliveInterval: "ServerAliveInterval", .serverAliveCountMax: "ServerAliveCountMax",
        .batchMode: "BatchMode", .passwordAuthentication: "PasswordAuthentication",
        .pubkeyAuthentication: "PubkeyAuthentication", .kbdInteractiveAuthentication: "KbdInteractiveAuthentication",
        .proxyJump: "ProxyJump", .proxyCommand: "ProxyCommand", .knownHostsCommand: "KnownHostsCommand",
        .revokedHostKeys: "RevokedHostKeys", .preferredAuthentications: "PreferredAuthentications",
        .controlMaster: "ControlMaster", .controlPersist: "ControlPersist", .controlPath: "ControlPath",
    ]

    static func flag(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "yes", "true": return true
        case "no", "false": return false
        default: return nil
        }
    }

    /// ssh's time format for these keywords: `30`, `30s`, `5m`, `1h`, and sums such as `1m30s`.
    static func seconds(_ value: String) -> Int? {
        var total = 0
        var digits = ""
        for character in value.lowercased() {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            guard let number = Int(digits) else { return nil }
            switch character {
            case "s": total += number
            case "m": total += number * 60
            case "h": total += number * 3600
            case "d": total += number * 86400
            case "w": total += number * 604_800
            default: return nil
            }
            digits = ""
        }
        if !digits.isEmpty {
            guard let number = Int(digits) else { return nil }
            total += number
        }
        return value.isEmpty ? nil : total
    }
}
