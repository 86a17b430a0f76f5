/// Everything needed to open one SSH connection, resolved from HOST, command-line options and ssh_config.
public struct ConnectionSettings: Sendable, Equatable {
    /// The host as the user wrote it (an alias or a name); used in messages.
    public var alias: String
    /// The address to connect to (ssh_config's HostName, or the alias), lower case as ssh makes it.
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
    /// The name host keys are recorded and looked up under instead of the host's (HostKeyAlias).
    public var hostKeyAlias: String?
    /// Record new host keys with hashed names (HashKnownHosts).
    public var hashKnownHosts: Bool
    /// The algorithms to offer, in order of preference, before they are narrowed to what libssh2 implements.
    public var ciphers: [String]
    public var macs: [String]
    public var kexAlgorithms: [String]
    public var hostKeyAlgorithms: [String]
    /// Whether known_hosts may reorder `hostKeyAlgorithms` (ssh does unless HostKeyAlgorithms is set outright).
    public var hostKeyOrderFollowsKnownHosts: Bool
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
    /// Jump hosts, `[user@]host[:port]` comma-separated (HostConnector goes through them); nil for none.
    public var proxyJump: String?
    /// The command whose stdin and stdout carry the connection, its `%` tokens expanded; nil for a TCP connection.
    public var proxyCommand: String?
    public var knownHostsCommand: String?
    /// Host keys refused for every host (RevokedHostKeys: one public key a line), or nil.
    public var revokedHostKeys: String?
    /// The authentication methods to try, in order (PreferredAuthentications); those pss has are publickey,
    /// keyboard-interactive and password.
    public var preferredAuthentications: [String]
    /// Whether and how long a connection to this host is kept for later commands (ControlMaster, ControlPersist,
    /// ControlPath).
    public var keeping: ConnectionKeeping = ConnectionKeeping()

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

    /// The name known_hosts records this host under: HostKeyAlias, else `host`, or `[host]:port` off port 22; lower
    /// case, as ssh compares them.
    public var knownHostsName: String {
        if let hostKeyAlias { return hostKeyAlias.asciiLowercased }
        return (port == 22 ? hostName : "[\(hostName)]:\(port)").asciiLowercased
    }
}
