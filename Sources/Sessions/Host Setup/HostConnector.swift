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
    /// The command line's connection options as the connection keeper takes them (`ConnectionOptions`); nil: this
    /// command's connections are its own, never kept (`pss doctor`).
    public var keeperArguments: [String]?

    public init(resolver: SSHConfigResolver, credentials: Credentials, prompter: Prompter, logger: Logger) {
        self.resolver = resolver
        self.credentials = credentials
        self.prompter = prompter
        self.logger = logger
    }

    /// The kept connection to `host` this command may use or ask for; nil when connections are not kept for it
    /// (ControlMaster no, ControlPath none, or a command whose connections are its own).
    public func keptConnection(to host: String, state: ClientState) -> KeptConnection? {
        guard let keeperArguments, let spec = try? HostSpec(parsing: host), let settings = try? resolver.resolve(spec),
            settings.keeping.isEnabled
        else { return nil }
        return KeptConnection(host: host, arguments: keeperArguments, keeping: settings.keeping, state: state)
    }

    public func connect(_ host: HostSpec, report: ConnectionReport = ConnectionReport()) throws -> SSHConnection {
        let settings = try resolver.resolve(host)
        if settings.proxyJump != nil && settings.proxyCommand != nil {
            throw SSHError.unsupported(
                "\(settings.alias): both ProxyJump and ProxyCommand are set; ssh takes whichever its configuration gives first, pss does not guess: set the other to none for this host"
            )
        }
        let socket = try settings.proxyJump.map { try jumpSocket(through: $0, to: settings) }
        return try connect(settings, as: host.host, report: report, socket: socket)
    }

    private func connect(
        _ resolved: ConnectionSettings, as name: String, report: ConnectionReport, socket: ConnectionSocket?, isHop: Bool = false
    ) throws -> SSHConnection {
        var settings = resolved
        if let limit = connectTimeoutLimit { settings.connectTimeout = min(settings.connectTimeout, limit) }
        var logger = logger
        logger[metadataKey: "host"] = "\(name)"
        return try SSHConnection.connect(
            settings: settings, trust: KnownHostsTrust(prompter: prompter),
            credentials: isHop ? Credentials() : credentials, prompter: prompter, logger: logger, report: report, socket: socket)
    }

    /// The way to `target` through the jump hosts of ProxyJump (`[user@]host[:port]`, comma-separated, the first
    /// reached first), as ssh -J: each hop is a connection of its own, with its own ssh_config block (User, Port,
    /// IdentityFile...; not the command line's options, which are the target's) and its own host key check against
    /// known_hosts, made through the hop before it. The first hop's own ProxyJump is followed too (as ssh's
    /// nested `ssh -W` does), up to `depth` levels. Hops are never offered --password-file's password: it is the
    /// target's, and a bastion that was not trusted with it must not collect it.
    func jumpSocket(through proxyJump: String, to target: ConnectionSettings, depth: Int = 0) throws -> ConnectionSocket {
        guard depth < 8 else { throw SSHError.unsupported("\(target.alias): ProxyJump goes through more than 8 levels of jump hosts (a loop?)") }
        let hopResolver = SSHConfigResolver(commandLine: [], configs: resolver.configs)
        var previous: SSHConnection?
        for hop in proxyJump.split(separator: ",").map(String.init) {
            let spec: HostSpec
            do { spec = try HostSpec(parsing: hop.hasPrefix("ssh://") ? String(hop.dropFirst(6)) : hop) } catch {
                throw SSHError.unsupported("\(target.alias): ProxyJump '\(hop.sanitizedForDisplay)': \(error)")
            }
            var settings = try hopResolver.resolve(spec)
            let ownJump = settings.proxyJump
            settings.proxyJump = nil  // later hops come through the chain, as ssh -J takes it
            let socket =
                try previous.map { try JumpTunnel.open(through: $0, to: settings.hostName, port: settings.port) }
                ?? ownJump.map { try jumpSocket(through: $0, to: settings, depth: depth + 1) }
            previous = try connect(settings, as: spec.host, report: ConnectionReport(), socket: socket, isHop: true)
        }
        guard let last = previous else { throw SSHError.unsupported("\(target.alias): ProxyJump names no host") }
        return try JumpTunnel.open(through: last, to: target.hostName, port: target.port)
    }
}
