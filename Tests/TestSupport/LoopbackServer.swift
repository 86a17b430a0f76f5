/// A test SSH server listening on 127.0.0.1 (OpenSSH's sshd or dropbear): what a client machine needs to log in.
public protocol LoopbackServer: AnyObject {
    var port: Int { get }
    /// Lets `publicKey` log in as `user`.
    func authorize(_ publicKey: String, user: String)
    /// The server's line for a known_hosts file.
    var knownHostsEntry: String { get }
}

extension SSHServer: LoopbackServer {
    public var knownHostsEntry: String { knownHostsLine() }
}

extension DropbearServer: LoopbackServer {
    public var knownHostsEntry: String { knownHostsLine() }
}
