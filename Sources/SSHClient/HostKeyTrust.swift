import Foundation

/// Decides whether to trust a server's host key. The connection asks its trust before authenticating.
public protocol HostKeyTrust {
    /// Throws `SSHError.hostKeyUnknown` or `.hostKeyChanged` to refuse.
    func verify(_ key: HostKey, for settings: ConnectionSettings, knownHosts: KnownHostsLookup) throws
    /// Key algorithms to prefer in the handshake for this host (those already known), in order.
    func preferredAlgorithms(for settings: ConnectionSettings, knownHosts: KnownHostsLookup) -> [HostKey.Algorithm]
}

/// What a trust may ask of known_hosts during a handshake.
public struct KnownHostsLookup {
    let userFiles: KnownHosts
    let globalFiles: KnownHosts
    let firstUserFile: String?
}

/// ssh's known_hosts trust with StrictHostKeyChecking: a changed key is always refused; an unknown key is refused
/// (`yes`), asked about on a terminal (`ask`), or added (`accept-new`, `no`).
public struct KnownHostsTrust: HostKeyTrust {
    let prompter: Prompter

    public init(prompter: Prompter) {
        self.prompter = prompter
    }

    public func preferredAlgorithms(for settings: ConnectionSettings, knownHosts: KnownHostsLookup) -> [HostKey.Algorithm] {
        let name = settings.knownHostsName
        var known = knownHosts.userFiles.knownAlgorithms(name: name)
        for algorithm in knownHosts.globalFiles.knownAlgorithms(name: name) where !known.contains(algorithm) {
            known.append(algorithm)
        }
        return known
    }

    public func verify(_ key: HostKey, for settings: ConnectionSettings, knownHosts: KnownHostsLookup) throws {
        let name = settings.knownHostsName
        var result = knownHosts.userFiles.lookup(key, name: name)
        if result == .notFound { result = knownHosts.globalFiles.lookup(key, name: name) }
        switch result {
        case .match:
            return
        case let .mismatch(file, line):
            throw SSHError.hostKeyChanged(host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                                          knownHostsFile: file, line: line)
        case .notFound:
            break
        }
        let refuse = { (reason: String) in
            SSHError.hostKeyUnknown(host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint, reason: reason)
        }
        switch settings.strictHostKeyChecking {
        case .yes:
            throw refuse("No \(key.algorithm.displayName) host key is known for \(name) and StrictHostKeyChecking is yes.")
        case .ask:
            guard !settings.batchMode, prompter.isAvailable else {
                throw refuse("No \(key.algorithm.displayName) host key is known for \(name), and there is no terminal to ask (use -o StrictHostKeyChecking=accept-new, or add the key to known_hosts).")
            }
            let question = """
                The authenticity of host '\(name)' can't be established.
                \(key.algorithm.displayName) key fingerprint is \(key.fingerprint).
                This key is not known by any other names.
                Are you sure you want to continue connecting (yes/no/[fingerprint])? 
                """
            var answer = prompter.ask(question)?.trimmingCharacters(in: .whitespaces)
            while let reply = answer, !["yes", "no"].contains(reply.lowercased()), reply != key.fingerprint {
                answer = prompter.ask("Please type 'yes', 'no' or the fingerprint: ")?.trimmingCharacters(in: .whitespaces)
            }
            guard let reply = answer, reply.lowercased() == "yes" || reply == key.fingerprint else {
                throw refuse("The key was not accepted.")
            }
        case .acceptNew, .no:
            break
        }
        guard let file = knownHosts.firstUserFile else { return }
        try KnownHosts.add(key, name: name, to: file)
        prompter.inform("Warning: Permanently added '\(name)' (\(key.algorithm.displayName)) to the list of known hosts.")
    }
}
