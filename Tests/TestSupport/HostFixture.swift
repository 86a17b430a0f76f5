/// What most end-to-end test classes share, made once per class: one sshd, and one client machine that reaches
/// it as "h1". Going away, it removes every session the client left there, so that the host's daemon exits.
public final class HostFixture {
    public let server: SSHServer
    public let client: ClientMachine

    public init(_ options: SSHServer.Options = SSHServer.Options()) {
        server = SSHServer(options)
        client = ClientMachine(servers: ["h1": server])
    }

    deinit {
        _ = client.pss(["remove", "--host", "h1", "--all"])
    }
}
