import Foundation
import TestSupport
import XCTest

/// Host keys against known_hosts, for each StrictHostKeyChecking policy.
final class HostKeyTests: XCTestCase {
    nonisolated(unsafe) static var server: SSHServer!

    override class func setUp() {
        var options = SSHServer.Options()
        options.hostKeyTypes = ["ed25519", "ecdsa"]
        server = SSHServer(options)
    }

    override class func tearDown() { server = nil }

    var server: SSHServer { Self.server }

    /// A client whose known_hosts holds `knownHosts` and whose alias uses `policy`.
    private func client(knownHosts: [String], policy: String) -> ClientMachine {
        let client = ClientMachine()
        server.authorize(client.publicKey)
        client.writeConfig(client.hostBlock(alias: "h", server: server)
            .map { $0.contains("StrictHostKeyChecking") ? "    StrictHostKeyChecking \(policy)" : $0 })
        try! knownHosts.map { $0 + "\n" }.joined().write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        return client
    }

    private func run(_ client: ClientMachine) -> ProcessResult {
        client.pss(["invoke", "--host", "h", "--", "echo connected"])
    }

    func testKnownKeyIsAccepted() {
        let result = run(client(knownHosts: [server.knownHostsLine("ed25519")], policy: "yes"))
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "connected\n")
    }

    func testHostKnownOnlyByItsSecondKeyType() {
        // OpenSSH's client records the type it negotiated; pss must ask for that type, not refuse.
        let result = run(client(knownHosts: [server.knownHostsLine("ecdsa")], policy: "yes"))
        XCTAssertEqual(result.status, 0, "\(result)")
    }

    func testHostWithSeveralKnownKeyTypes() {
        let result = run(client(knownHosts: [server.knownHostsLine("ecdsa"), server.knownHostsLine("ed25519")], policy: "yes"))
        XCTAssertEqual(result.status, 0, "\(result)")
    }

    func testHashedEntryIsAccepted() {
        let client = client(knownHosts: [server.knownHostsLine("ed25519")], policy: "yes")
        shell("ssh-keygen -q -H -f '\(client.knownHostsPath)' && rm -f '\(client.knownHostsPath).old'")
        XCTAssertTrue(client.scratch.read("home/.ssh/known_hosts").hasPrefix("|1|"))
        let result = run(client)
        XCTAssertEqual(result.status, 0, "\(result)")
    }

    func testUnknownKeyIsRefusedWithYes() {
        let client = client(knownHosts: [], policy: "yes")
        let result = run(client)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Host key verification failed"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("SHA256:"), result.stderrText)
        XCTAssertEqual(client.scratch.read("home/.ssh/known_hosts"), "")
    }

    func testUnknownKeyWithAskAndNoTerminalIsRefusedWithoutPrompting() {
        let result = run(client(knownHosts: [], policy: "ask"))
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("no terminal"), result.stderrText)
        XCTAssertFalse(result.timedOut)
    }

    func testAcceptNewAddsTheKeyAndThenRequiresIt() {
        let client = client(knownHosts: [], policy: "accept-new")
        let first = run(client)
        XCTAssertEqual(first.status, 0, "\(first)")
        XCTAssertTrue(first.stderrText.contains("Permanently added"), first.stderrText)
        let recorded = client.scratch.read("home/.ssh/known_hosts")
        XCTAssertTrue(recorded.contains("[127.0.0.1]:\(server.port) ssh-ed25519 "), recorded)

        // Now recorded: the same key passes under `yes`.
        client.writeConfig(client.hostBlock(alias: "h", server: server))
        XCTAssertEqual(run(client).status, 0)
    }

    func testNoAddsTheKey() {
        let client = client(knownHosts: [], policy: "no")
        XCTAssertEqual(run(client).status, 0)
        XCTAssertTrue(client.scratch.read("home/.ssh/known_hosts").contains("ssh-ed25519"))
    }

    func testChangedKeyIsRefusedUnderEveryPolicyAndNamesTheLine() {
        let impostor = Scratch("impostor")
        shell("ssh-keygen -q -t ed25519 -N '' -f '\(impostor.file("key"))'")
        let wrongKey = impostor.read("key.pub").split(separator: " ").prefix(2).joined(separator: " ")
        let knownHosts = ["# a comment", "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOtherO",
                          "[127.0.0.1]:\(server.port) \(wrongKey)"]
        for policy in ["yes", "ask", "accept-new", "no"] {
            let client = client(knownHosts: knownHosts, policy: policy)
            let result = run(client)
            XCTAssertEqual(result.status, 255, "\(policy): \(result)")
            XCTAssertTrue(result.stderrText.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(policy): \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("\(client.knownHostsPath):3"), "\(policy): \(result.stderrText)")
            XCTAssertFalse(result.stdoutText.contains("connected"))
        }
    }

    func testAskOnATerminalAddsTheKeyWhenTheUserSaysYes() {
        let client = client(knownHosts: [], policy: "ask")
        let terminal = TmuxTerminal(command: "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --host h -- echo connected",
                                    environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Are you sure you want to continue connecting"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("ED25519 key fingerprint is SHA256:"), terminal.screen)
        terminal.type("yes")
        terminal.press("Enter")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("connected"), terminal.screen)
        XCTAssertTrue(client.scratch.read("home/.ssh/known_hosts").contains("ssh-ed25519"))
    }

    func testAskOnATerminalRefusesWhenTheUserSaysNo() {
        let client = client(knownHosts: [], policy: "ask")
        let terminal = TmuxTerminal(command: "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --host h -- echo connected",
                                    environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Are you sure you want to continue connecting"), terminal.screen)
        terminal.type("no")
        terminal.press("Enter")
        XCTAssertTrue(terminal.waitFor("[exit 255]"), terminal.screen)
        XCTAssertEqual(client.scratch.read("home/.ssh/known_hosts"), "")
    }
}
