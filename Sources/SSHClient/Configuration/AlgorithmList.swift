/// ssh_config's algorithm lists (Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms), resolved as OpenSSH 9 resolves
/// them (kex_assemble_names): no value gives OpenSSH's default list; `a,b` replaces it; `+a,b` appends to it;
/// `-a,b` removes from it; `^a,b` puts first. Every name may be a `*`/`?` pattern. The connection then keeps, in
/// this order, what libssh2 1.10 implements: nothing weaker than OpenSSH's defaults is offered unless asked for.
public enum AlgorithmList {
    public enum Kind: Sendable, CaseIterable {
        case ciphers, macs, kex, hostKeys

        init?(_ keyword: SSHConfigKeyword) {
            switch keyword {
            case .ciphers: self = .ciphers
            case .macs: self = .macs
            case .kexAlgorithms: self = .kex
            case .hostKeyAlgorithms: self = .hostKeys
            default: return nil
            }
        }

        public var keyword: SSHConfigKeyword {
            switch self {
            case .ciphers: return .ciphers
            case .macs: return .macs
            case .kex: return .kexAlgorithms
            case .hostKeys: return .hostKeyAlgorithms
            }
        }

        /// OpenSSH 9.2's defaults, as Debian 12's `ssh -G` prints them with no configuration, in its order.
        public var defaults: [String] {
            switch self {
            case .ciphers:
                return [
                    "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
                    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                ]
            case .macs:
                return [
                    "umac-64-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
                    "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com",
                    "umac-128@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1",
                ]
            case .kex:
                return [
                    "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
                    "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
                    "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
                    "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256",
                ]
            case .hostKeys:
                return [
                    "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                    "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                    "sk-ssh-ed25519-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
                    "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com", "ssh-ed25519",
                    "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                    "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
                ]
            }
        }

        /// Every name OpenSSH 9.2 knows (`ssh -Q`), and libssh2 1.10's older ones: what patterns expand against,
        /// and outside of which a name is a mistake.
        public var known: [String] {
            switch self {
            case .ciphers:
                return defaults + [
                    "3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "rijndael-cbc@lysator.liu.se",
                    "blowfish-cbc", "arcfour128", "arcfour", "cast128-cbc",
                ]
            case .macs:
                return defaults + [
                    "hmac-sha1-96", "hmac-md5", "hmac-md5-96", "hmac-sha1-96-etm@openssh.com",
                    "hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com", "hmac-ripemd160",
                    "hmac-ripemd160@openssh.com",
                ]
            case .kex:
                return defaults + [
                    "diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
                    "diffie-hellman-group-exchange-sha1",
                ]
            case .hostKeys:
                return defaults + [
                    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss", "ssh-dss-cert-v01@openssh.com",
                    "ssh-rsa", "ssh-rsa-cert-v01@openssh.com",
                ]
            }
        }

        /// Why `spec` is not a valid value for this keyword, or nil.
        func problem(with spec: String) -> String? {
            var names = spec
            if let first = names.first, "+-^".contains(first) { names.removeFirst() }
            for name in names.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                if name.isEmpty { return "\(keyword.displayName): empty name in '\(spec.sanitizedForDisplay)'" }
                if name.hasPrefix("!") { return "\(keyword.displayName): negated names ('\(name.sanitizedForDisplay)') are not allowed" }
                if !name.contains("*"), !name.contains("?"), !known.contains(name) {
                    return "Bad \(keyword.displayName) name '\(name.sanitizedForDisplay)'"
                }
            }
            return nil
        }
    }

    /// The list `spec` (nil: not set) asks for, in order, before it is narrowed to what libssh2 implements.
    public static func resolve(_ spec: String?, kind: Kind) -> [String] {
        guard var spec, !spec.isEmpty else { return kind.defaults }
        let list: [String]
        switch spec.first {
        case "-":
            spec.removeFirst()
            let patterns = spec.split(separator: ",").map(String.init)
            return kind.defaults.filter { name in !patterns.contains { HostPattern.wildcardMatch(name, $0) } }
        case "+":
            spec.removeFirst()
            list = union(kind.defaults, spec.split(separator: ",").map(String.init))
        case "^":
            spec.removeFirst()
            list = union(spec.split(separator: ",").map(String.init), kind.defaults)
        default:
            list = spec.split(separator: ",").map(String.init)
        }
        var result: [String] = []
        for pattern in list {
            result = union(result, kind.known.filter { HostPattern.wildcardMatch($0, pattern) })
        }
        return result
    }

    /// Whether the host-key list is OpenSSH's own order, which known_hosts may reorder (no value, `+` or `-`).
    public static func allowsKnownHostsOrder(_ spec: String?) -> Bool {
        guard let first = spec?.first else { return true }
        return first == "+" || first == "-"
    }

    private static func union(_ first: [String], _ second: [String]) -> [String] {
        first + second.filter { !first.contains($0) }
    }
}
