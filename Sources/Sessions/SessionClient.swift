import SSHClient

/// Opens links to hosts' daemons for one command.
public struct SessionClient {
    public let connector: HostConnector
    public let state: ClientState

    public init(connector: HostConnector, state: ClientState = ClientState()) {
        self.connector = connector
        self.state = state
    }

    /// Connects to `host`, makes sure the helper answers, and hands the link to `body`.
    public func withLink<T>(_ host: String, _ body: (HostLink) throws -> T) throws -> T {
        let spec = try HostSpec(parsing: host)
        let connection = try connector.connect(spec)
        let link = try HostLink.open(connection, helper: try HelperBinary.locate(state: state),
                                     clientID: try state.clientID(), logger: connector.logger)
        defer { link.close() }
        return try body(link)
    }
}
