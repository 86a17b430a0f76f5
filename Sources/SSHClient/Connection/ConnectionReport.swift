/// What happened while a connection was made, step by step, for `pss doctor`: filled as the steps succeed, so that
/// when one fails the report says how far it got.
public final class ConnectionReport {
    /// `host port N`, once the TCP connection is up.
    public internal(set) var reached: String?
    /// The server's identification string.
    public internal(set) var banner: String?
    /// Key exchange, cipher and MAC negotiated.
    public internal(set) var algorithms: String?
    public internal(set) var hostKey: HostKey?
    /// How the host key was trusted: the known_hosts line it matches, or where it was added.
    public internal(set) var hostKeyTrust: String?
    /// The method (and key) that authenticated.
    public internal(set) var authentication: String?

    public init() {}
}
