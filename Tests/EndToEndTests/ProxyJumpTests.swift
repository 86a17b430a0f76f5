import Foundation
import SessionWire
import TestSupport
import XCTest

/// Hosts behind bastions: a network namespace holds two bastions and a target, all on its own loopback; the test's
/// namespace reaches only the first bastion, through a bridge. pss goes through them as ssh -J does.
final class ProxyJumpTests: XCTestCase {
    struct Site {
        let namespace: NetworkNamespace
        let first: SSHServer, second: SSHServer, target: SSHServer
        let client: ClientMachine
    }

    nonisolated(unsafe) private static var site: Site?

    override class func setUp() {
        super.setUp()
        let namespace = NetworkNamespace()
        var options = SSHServer.Options()
        options.namespace = namespace
        let first = SSHServer(options), second = SSHServer(options), target = SSHServer(options)
        let bridge = namespace.bridge(to: first.port)
        let client = ClientMachine()
        for server in [first, second, target] { server.authorize(client.publicKey) }
        // Each hop has its own block (its port as the hop before sees it) and its own known_hosts name.
        client.writeConfig(
            client.hostBlock(alias: "bastion", port: bridge) + ["    HostKeyAlias bastion"]
                + client.hostBlock(alias: "inner", port: second.port) + ["    HostKeyAlias inner"]
                + client.hostBlock(alias: "target", port: target.port) + ["    HostKeyAlias target", "    ProxyJump bastion"]
                + client.hostBlock(alias: "deep", port: target.port) + ["    HostKeyAlias target", "    ProxyJump bastion,inner"]
                + client.hostBlock(alias: "direct", port: target.port) + ["    HostKeyAlias target"]
                + client.hostBlock(alias: "command", port: target.port) + [
                    "    HostKeyAlias target", "    ProxyCommand sh -c 'exec ip netns exec \(namespace.name) socat STDIO TCP:%h:%p'",
                ])
        let known = ["bastion \(first.hostPublicKey())", "inner \(second.hostPublicKey())", "target \(target.hostPublicKey())"]
        try! (known.joined(separator: "\n") + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        site = Site(namespace: namespace, first: first, second: second, target: target, client: client)
    }

    override class func tearDown() {
        let name = site?.namespace.name
        if let site { _ = site.client.pss(["remove", "--host", "target", "--all"]) }
        site = nil
        if let name {
            precondition(!ProcessRunner.run("/usr/bin/ip", ["netns", "list"]).stdoutText.contains(name), "the namespace \(name) was left behind")
        }
        super.tearDown()
    }

    private var client: ClientMachine { Self.site!.client }

    func testTheTargetIsReachedOnlyThroughTheBastion() {
        let direct = client.pss(["invoke", "--host", "direct", "--", "true"])
        XCTAssertEqual(direct.status, 255, "not reachable from here: \(direct)")
        let through = client.pss(["-v", "invoke", "--host", "target", "--", "echo through; hostname"])
        XCTAssertEqual(through.status, 0, through.description)
        XCTAssertTrue(through.stdoutText.hasPrefix("through\n"), through.description)
        XCTAssertTrue(through.stderrText.contains("through the jump host"), through.stderrText)
        XCTAssertTrue(Self.site!.first.scratch.read("sshd.log").contains("Accepted publickey"), "through the bastion")
    }

    func testTwoHopsAndTheCommandLine() {
        let logins = { Self.site!.second.scratch.read("sshd.log").components(separatedBy: "Accepted publickey").count }
        let before = logins()
        let deep = client.pss(["invoke", "--host", "deep", "--", "echo deep"])
        XCTAssertEqual(deep.status, 0, deep.description)
        XCTAssertEqual(deep.stdoutText, "deep\n")
        XCTAssertEqual(logins(), before + 1, "the second bastion carried it")
        let flag = client.pss(["-J", "bastion,inner", "invoke", "--host", "direct", "--", "echo flag"])
        XCTAssertEqual(flag.stdoutText, "flag\n", flag.description)
        let none = client.pss(["-o", "ProxyJump=none", "invoke", "--host", "target", "--", "true"])
        XCTAssertEqual(none.status, 255, "ProxyJump none connects directly: \(none)")
    }

    /// Each hop's key and the target's are checked as for a direct connection: a changed one is refused, naming
    /// it. (Hops read ssh_config, not the command line's -o, as with ssh -J: the change is made in known_hosts.)
    func testChangedKeysBehindAndAtTheBastionAreRefused() throws {
        let other = Scratch("otherkey")
        shell("ssh-keygen -q -t ed25519 -N '' -f '\(other.file("key"))'")
        let wrongKey = other.read("key.pub").split(separator: " ").prefix(2).joined(separator: " ")
        let site = Self.site!
        let original = try String(contentsOfFile: client.knownHostsPath, encoding: .utf8)
        defer { try? original.write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8) }
        for changed in ["target", "bastion"] {
            let lines = [
                "bastion \(changed == "bastion" ? wrongKey : site.first.hostPublicKey())",
                "target \(changed == "target" ? wrongKey : site.target.hostPublicKey())",
            ]
            try (lines.joined(separator: "\n") + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
            let result = client.pss(["invoke", "--host", "target", "--", "true"])
            XCTAssertEqual(result.status, 255, result.description)
            XCTAssertTrue(result.stderrText.contains("HAS CHANGED"), result.stderrText)
            XCTAssertTrue(result.stderrText.contains("-R '\(changed)'"), "names the host whose key changed: \(result.stderrText)")
        }
    }

    /// ProxyCommand: its stdin and stdout carry the connection (here socat, joining the namespace; the quoted
    /// word stays one word).
    func testProxyCommand() {
        let result = client.pss(["-v", "invoke", "--host", "command", "--", "echo by command"])
        XCTAssertEqual(result.status, 0, result.description)
        XCTAssertEqual(result.stdoutText, "by command\n")
        XCTAssertTrue(result.stderrText.contains("through ProxyCommand"), result.stderrText)
        XCTAssertEqual(Processes.matching("socat STDIO TCP:127.0.0.1:\(Self.site!.target.port)"), [], "the command ends with the connection")
    }

    /// A connection through the bastion cut mid-command: pss goes through it again and the output resumes whole.
    func testReconnectionThroughTheBastion() throws {
        let output = client.scratch.file("through.out")
        let running = try ProcessRunner.start(
            PSSBinary.path,
            ["-F", client.configPath, "invoke", "--host", "target", "--", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.4; done"],
            environment: client.baseEnvironment, stdoutFile: output)
        XCTAssertTrue(Processes.waitUntil { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("tick 2") })
        // The bridge's connections inside the namespace end: the bastion's connection, and the target's over it, drop.
        XCTAssertFalse(Processes.matching("ip netns exec \(Self.site!.namespace.name) socat").isEmpty)
        for pid in Processes.matching("socat STDIO TCP:127.0.0.1:\(Self.site!.first.port)") { kill(pid, SIGKILL) }
        let result = running.wait(limit: 60)
        XCTAssertEqual(result.status, 0, result.description)
        XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), (1...6).map { "tick \($0)\n" }.joined())
        XCTAssertTrue(result.stderrText.contains("reconnected"), result.stderrText)
    }

    /// Sessions, and several targets at once, through the bastion.
    func testSessionsAndFanOutThroughTheBastion() {
        XCTAssertEqual(client.pss(["new", "target", "--name", "behind"]).status, 0)
        XCTAssertEqual(client.pss(["invoke", "--session", "target/behind", "--", "cd /tmp && X=kept"]).status, 0)
        let again = client.pss(["invoke", "--session", "target/behind", "--", "echo $X $(pwd)"])
        XCTAssertEqual(again.stdoutText, "kept /tmp\n", again.description)
        let fanned = client.pss(["invoke", "--host", "target,deep,bastion", "--", "echo up"])
        XCTAssertEqual(fanned.status, 0, fanned.description)
        XCTAssertEqual(Set(fanned.stdoutText.split(separator: "\n")), ["target: up", "deep: up", "bastion: up"])
        XCTAssertEqual(client.pss(["remove", "target/behind"]).status, 0)
    }

    /// A kept connection through the bastion: the keeper goes through it as a command would.
    func testKeptConnectionThroughTheBastion() {
        let kept = ["-o", "ControlMaster=auto", "-o", "ControlPersist=no"]
        XCTAssertEqual(client.pss(kept + ["new", "target", "--name", "keptbehind"]).status, 0)
        XCTAssertTrue(
            Processes.waitUntil {
                client.pss(kept + ["-v", "invoke", "--session", "target/keptbehind", "--", "true"]).stderrText.contains("using the kept connection")
            })
        let result = client.pss(kept + ["invoke", "--session", "target/keptbehind", "--", "echo behind the bastion"])
        XCTAssertEqual(result.stdoutText, "behind the bastion\n", result.description)
        // Input through the keeper and the bastion's tunnel arrives whole, end of file included; through the tunnel
        // alone (its own connection) too.
        for (size, rounds) in [(5_000_000, 20), (50_000_000, 5)] {
            let input = randomBytes(size)
            for round in 1...rounds {
                let own = round % 2 == 0 ? ["-o", "ControlMaster=no"] : []
                let summed = client.pss(kept + own + ["invoke", "--session", "target/keptbehind", "--", "sha256sum"], stdin: input)
                XCTAssertEqual(summed.stdoutText, SHA256.hex(input) + "  -\n", "\(size) bytes, round \(round) \(own): \(summed)")
                if summed.status != 0 { break }
            }
        }
        XCTAssertEqual(client.pss(kept + ["remove", "target/keptbehind"]).status, 0)
        let keepDirectory = client.baseEnvironment["PSS_CLIENT_DIR"]! + "/keep"
        XCTAssertTrue(
            Processes.waitUntil { !((try? FileManager.default.contentsOfDirectory(atPath: keepDirectory)) ?? []).contains("keeper") },
            "the keeper outlived the last session with ControlPersist=no")
    }
}
