import Logging
import SSHClient

/// Opens SSH connections to HOSTs as the command line and ssh_config describe them.
public struct HostConnector {
    public var resolver: SSHConfigResolver
    public var credentials: Credentials
    public var prompter: Prompter
    public var logger: Logger
    /// Caps ConnectTimeout (seconds): a reconnection must not outlast its own deadline.
    public var connectTimeoutLimit: Int?

    public init(resolver: SSHConfigResolver, credentials: Credentials, prompter: Prompter, logger: Logger) {
        self.resolver = resolver
        self.credentials = credentials
        self.prompter = prompter
        self.logger = logger
    }

    public func connect(_ host: HostSpec, report: ConnectionReport = ConnectionReport()) throws -> SSHConnection {
        var settings = try resolver.resolve(host)
        if let limit = connectTimeoutLimit { settings.connectTimeout = min(settings.connectTimeout, limit) }
        var logger = logger
        logger[metadataKey: "host"] = "\(host.host)"
        return try SSHConnection.connect(
            settings: settings, trust: KnownHostsTrust(prompter: prompter),
            credentials: credentials, prompter: prompter, logger: logger, report: report)
    }
}
