/// What went wrong with an SSH connection, with the context a user needs to act on it.
/// Messages follow ssh's wording where users know it.
public enum SSHError: Error, CustomStringConvertible, Sendable {
    case resolve(host: String, reason: String)
    case connect(host: String, port: Int, reason: String)
    case timedOut(host: String, phase: String)
    case protocolFailure(host: String, operation: String, message: String)
    case hostKeyUnknown(host: String, keyType: String, fingerprint: String, reason: String)
    /// `note`: more to say (the recorded keys are of a type pss cannot verify), or empty.
    case hostKeyChanged(
        host: String, keyType: String, fingerprint: String, recordedKeyType: String, knownHostsFile: String, line: Int,
        note: String)
    case hostKeyRevoked(host: String, keyType: String, fingerprint: String, knownHostsFile: String, line: Int)
    case authenticationFailed(user: String, host: String, methods: [String], hints: [String])
    case serverNotResponding(host: String)
    case connectionLost(host: String, message: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .resolve(host, reason):
            return "could not resolve hostname \(host): \(reason)"
        case let .connect(host, port, reason):
            return "connect to host \(host) port \(port): \(reason)"
        case let .timedOut(host, phase):
            return "connection to \(host) timed out \(phase) (ConnectTimeout)"
        case let .protocolFailure(_, operation, message):
            return "\(operation) failed: \(message)"
        case let .hostKeyUnknown(host, keyType, fingerprint, reason):
            return """
                the authenticity of host '\(host)' can't be established.
                \(keyType) key fingerprint is \(fingerprint).
                \(reason)
                Host key verification failed.
                """
        case let .hostKeyChanged(host, keyType, fingerprint, recordedKeyType, file, line, note):
            return """
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
                Someone could be eavesdropping on you right now (man-in-the-middle attack)!
                It is also possible that a host key has just been changed.
                The fingerprint for the \(keyType) key sent by the remote host is
                \(fingerprint).
                Offending \(recordedKeyType) key in \(file):\(line)\(note.isEmpty ? "" : "\n" + note)
                If the host was really reinstalled, remove the old key with:
                  ssh-keygen -f '\(file)' -R '\(host)'
                Host key verification failed.
                """
        case let .hostKeyRevoked(host, keyType, fingerprint, file, line):
            return """
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                @       WARNING: REVOKED HOST KEY DETECTED!               @
                @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
                The \(keyType) host key for \(host) is marked as revoked in \(file):\(line).
                This could mean that a stolen key is being used to impersonate this host.
                The fingerprint of the key it sent is \(fingerprint).
                Host key verification failed.
                """
        case let .authenticationFailed(user, _, methods, hints):
            // Said after the target's name (pss prefixes it), so the user is named here, the host not again.
            var text = "Permission denied (\(methods.joined(separator: ","))) for user \(user)."
            for hint in hints { text += "\n" + hint }
            return text
        case let .serverNotResponding(host):
            return "Timeout, server \(host) not responding (ServerAliveInterval × ServerAliveCountMax)."
        case let .connectionLost(host, message):
            return "connection to \(host) lost: \(message)"
        case let .unsupported(message):
            return message
        }
    }

    /// One line for a summary of many targets, where the full text would repeat (`explanation` says the rest
    /// once); nil where `description` is already short.
    public var brief: String? {
        switch self {
        case let .hostKeyChanged(_, keyType, fingerprint, _, file, line, _):
            return "REMOTE HOST IDENTIFICATION HAS CHANGED: its \(keyType) key is now \(fingerprint) (offending key: \(file):\(line))"
        case let .hostKeyRevoked(_, keyType, fingerprint, file, line):
            return "REVOKED HOST KEY: \(keyType) \(fingerprint) (marked in \(file):\(line))"
        case let .hostKeyUnknown(_, keyType, fingerprint, _):
            return "host key not known: \(keyType) \(fingerprint); host key verification failed"
        default:
            return nil
        }
    }

    /// What `brief` leaves out, the same for every target it applies to: said once after the summary.
    public var explanation: String? {
        switch self {
        case let .hostKeyChanged(_, _, _, _, file, _, _):
            return "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY (a man-in-the-middle attack), or the hosts above "
                + "were reinstalled. Check each new key with the host's admin; for a host really reinstalled, remove the "
                + "old key with: ssh-keygen -f '\(file)' -R HOST"
        case .hostKeyRevoked:
            return "A revoked key may be a stolen one used to impersonate the host: ask the host's admin."
        case let .hostKeyUnknown(_, _, _, reason):
            return reason
        default:
            return nil
        }
    }
}
