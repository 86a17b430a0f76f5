import Foundation

/// Decides whether to trust a server's host key. The connection asks its trust before authenticating.
public protocol HostKeyTrust {
    /// Returns how the key was trusted (for `pss doctor`); throws `SSHError.hostKeyUnknown`, `.hostKeyChanged` or
    /// `.hostKeyRevoked` to refuse.
    func verify(_ key: HostKey, for settings: ConnectionSettings, knownHosts: KnownHostsLookup) throws -> String
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

    public func verify(_ key: HostKey, for settings: ConnectionSettings, knownHosts: KnownHostsLookup) throws -> String {
        let name = settings.knownHostsName
        if let revoked = settings.revokedHostKeys { try Self.checkNotRevoked(key, name: name, file: revoked) }
        var authorities: [KnownHosts.Location] = []
        switch knownHosts.knownHosts.verdict(for: key, name: name) {
        case let .known(location):
            return "matches \(location) (as \(name))"
        case let .revoked(location):
            throw SSHError.hostKeyRevoked(
                host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                knownHostsFile: location.file, line: location.line)
        case let .changed(location, recordedType):
            // A host known only by keys libssh2 1.10 cannot verify (RSA needs rsa-sha2, which it lacks) is refused
            // all the same, but the message says that the key may well not have changed.
            let recorded = knownHosts.knownHosts.recordedKeyTypes(for: name)
            let usable: Set<String> = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]
            let why =
                recorded.contains("ssh-rsa")
                ? "libssh2 1.10 lacks the rsa-sha2 signatures OpenSSH uses for RSA"
                : "libssh2 1.10 has no support for them"
            let note =
                recorded.contains(where: usable.contains)
                ? ""
                : """
                This host is known only by \(recorded.joined(separator: ", ")) keys, which pss cannot verify (\(why)), \
                so it was offered the host's \
                \(key.algorithm.displayName) key: this is not proof that the host changed. Compare that fingerprint with \
                the host's own (ssh-keygen -lf /etc/ssh/ssh_host_\(key.algorithm == .ed25519 ? "ed25519" : "ecdsa")_key.pub on \
                it) and, if it matches, add the key to \(location.file).
                """
            throw SSHError.hostKeyChanged(
                host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                recordedKeyType: HostKey.Algorithm(rawValue: recordedType)?.displayName ?? recordedType,
                knownHostsFile: location.file, line: location.line, note: note)
        case let .unknown(certificateAuthorities):
            authorities = certificateAuthorities
        }
        let authorityNote =
            authorities.isEmpty
            ? ""
            : "\n"
                + authorities.map {
                    "\($0) trusts a certificate authority for this host (@cert-authority), but libssh2 1.10, which pss uses, has no host certificates: record the host's own key instead."
                }.joined(separator: "\n")
        let refuse = { (reason: String) in
            SSHError.hostKeyUnknown(
                host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                reason: reason + authorityNote)
        }
        switch settings.strictHostKeyChecking {
        case .yes:
            throw refuse("No host key is known for \(name) and StrictHostKeyChecking is yes.")
        case .ask:
            guard !settings.batchMode, prompter.isAvailable else {
                throw refuse(
                    "No host key is known for \(name), and there is no terminal to ask (use -o StrictHostKeyChecking=accept-new, or add the key to known_hosts)."
                )
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
        let how =
            settings.strictHostKeyChecking == .ask
            ? "accepted on the terminal" : "new, accepted (StrictHostKeyChecking \(settings.strictHostKeyChecking.rawValue))"
        guard let file = knownHosts.fileToWrite else { return how + ", not recorded (no UserKnownHostsFile)" }
        try KnownHosts.add(key, name: name, to: file, hashName: settings.hashKnownHosts)
        prompter.inform("Warning: Permanently added '\(name)' (\(key.algorithm.displayName)) to the list of known hosts.")
        return how + " and added to \(file)"
    }

    /// Whether the key of a connection made earlier would still be trusted without a question (known_hosts has
    /// not replaced or revoked it; not removed it, unless StrictHostKeyChecking takes new keys): a kept connection
    /// serves a command only then. Nothing is asked or recorded.
    public static func stillTrusts(_ connection: SSHConnection) -> Bool {
        guard let key = connection.hostKey else { return false }
        let settings = connection.settings
        if let revoked = settings.revokedHostKeys, (try? checkNotRevoked(key, name: settings.knownHostsName, file: revoked)) == nil {
            return false
        }
        switch KnownHostsLookup(settings: settings).knownHosts.verdict(for: key, name: settings.knownHostsName) {
        case .known: return true
        case .changed, .revoked: return false
        // Not recorded (no file to record it in, or removed since): trusted again only where a new connection
        // would take it without a question.
        case .unknown: return settings.strictHostKeyChecking == .no || settings.strictHostKeyChecking == .acceptNew
        }
    }

    /// RevokedHostKeys, as ssh reads it: a key listed there is refused for every host, and a file that cannot be
    /// read refuses every key. pss reads the text form (one public key a line); a Key Revocation List it cannot
    /// read, and refuses every key, saying so.
    static func checkNotRevoked(_ key: HostKey, name: String, file: String) throws {
        let refuseAll = { (why: String) in
            SSHError.hostKeyUnknown(
                host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                reason: "RevokedHostKeys \(file) \(why), so every host key is refused, as ssh refuses them.")
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw refuseAll("cannot be read") }
        if data.starts(with: Array("SSHKRL\n".utf8)) { throw refuseAll("is a Key Revocation List, which pss cannot read (list the keys one a line)") }
        for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
            guard fields.count >= 2, fields[0].first != UInt8(ascii: "#"),
                let blob = Data(base64Encoded: Data(fields[1])), [UInt8](blob) == key.blob
            else { continue }
            throw SSHError.hostKeyRevoked(
                host: name, keyType: key.algorithm.displayName, fingerprint: key.fingerprint,
                knownHostsFile: file, line: index + 1)
        }
    }
}
