import Foundation

/// Decides whether to trust a server's host key. The connection asks its trust before authenticating.
public protocol HostKeyTrust {
    /// Throws `SSHError.hostKeyUnknown`, `.hostKeyChanged` or `.hostKeyRevoked` to refuse.
    func verify(_ key: HostKey, for settings: ConnectionSettings, knownHosts: KnownHostsLookup) throws
    /// Key algorithms to prefer in the handshake for this host (those already known), in order.
    func preferredAlgorithms(for settings: ConnectionSettings, knownHosts: KnownHostsLookup) -> [HostKey.Algorithm]
}

/// The known_hosts files a connection consults (UserKnownHostsFile, then GlobalKnownHostsFile), and where a new
/// key is recorded.
public struct KnownHostsLookup {
    public let knownHosts: KnownHosts
    /// The first UserKnownHostsFile: where an accepted key is added.
    public let fileToWrite: String?

    public init(settings: ConnectionSettings) {
        knownHosts = KnownHosts(paths: settings.userKnownHostsFiles + settings.globalKnownHostsFiles)
        fileToWrite = settings.userKnownHostsFiles.first
    }
}

/// ssh's known_hosts trust with StrictHostKeyChecking: a changed or revoked key is always refused; an unknown key is
/// refused (`yes`), asked about on a terminal (`ask`), or added (`accept-new`, `no`).
public struct KnownHostsTrust: HostKeyTrust {
    let prompter: Prompter

    public init(prompter: Prompter) {
        self.prompter = prompter
    }

    public func preferredAlgorithms(for settings: ConnectionSettings, knownHosts: KnownHostsLookup) -> [HostKey.Algorithm] {
        knownHosts.knownHosts.recordedKeyTypes(for: settings.knownHostsName).compactMap(HostKey.Algorithm.init(rawValue:))
    }

    public func verify(_ key: HostKey, for settings: ConnectionSettings, knownHosts: KnownHostsLookup) throws {
        let name = settings.knownHostsName
        var authorities: [KnownHosts.Location] = []
        switch knownHosts.knownHosts.verdict(for: key, name: name) {
        case .known:
            return
        case let .revoked(location):
            throw SSHError.hostKeyRevoked(host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                                          knownHostsFile: location.file, line: location.line)
        case let .changed(location, recordedType):
            throw SSHError.hostKeyChanged(host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                                          recordedKeyType: HostKey.Algorithm(rawValue: recordedType)?.displayName ?? recordedType,
                                          knownHostsFile: location.file, line: location.line)
        case let .unknown(certificateAuthorities):
            authorities = certificateAuthorities
        }
        let authorityNote = authorities.isEmpty ? "" : "\n" + authorities.map {
            "\($0) trusts a certificate authority for this host (@cert-authority), but libssh2 1.10, which pss uses, has no host certificates: record the host's own key instead."
        }.joined(separator: "\n")
        let refuse = { (reason: String) in
            SSHError.hostKeyUnknown(host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                                    reason: reason + authorityNote)
        }
        switch settings.strictHostKeyChecking {
        case .yes:
            throw refuse("No host key is known for \(name) and StrictHostKeyChecking is yes.")
        case .ask:
            guard !settings.batchMode, prompter.isAvailable else {
                throw refuse("No host key is known for \(name), and there is no terminal to ask (use -o StrictHostKeyChecking=accept-new, or add the key to known_hosts).")
            }
            let question = """
                The authenticity of host '\(name)' can't be established.
                \(key.algorithm.displayName) key fingerprint is \(key.fingerprint).\(authorityNote)
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
        guard let file = knownHosts.fileToWrite else { return }
        try KnownHosts.add(key, name: name, to: file, hashName: settings.hashKnownHosts)
        prompter.inform("Warning: Permanently added '\(name)' (\(key.algorithm.displayName)) to the list of known hosts.")
    }
}
