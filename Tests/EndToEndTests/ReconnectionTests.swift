import Foundation
import TestSupport
import XCTest

/// A connection cut (reset) or silenced (stall) mid-command: the client reconnects and resumes at its offsets;
/// a client killed mid-command leaves the session Disconnected, and another machine receives the output.
final class ReconnectionTests: XCTestCase {
    nonisolated(unsafe) static var server: SSHServer!

    override class func setUp() {
        // sshd drops a client it has not heard from in ~3 s, as an admin's ClientAliveInterval does: then the host
        // sees a stalled client go, and not only a reset one.
        var options = SSHServer.Options()
        options.extraConfig = ["ClientAliveInterval 1", "ClientAliveCountMax 2"]
        server = SSHServer(options)
    }

    override class func tearDown() {
        server = nil
    }

    /// A client reaching the server through a proxy (alias "p", quick keepalive and connect timeout), and directly
    /// (alias "h1").
    private func proxiedClient() -> (ClientMachine, TCPProxy) {
        let client = ClientMachine(servers: ["h1": Self.server])
        let proxy = TCPProxy(targetPort: Self.server.port)
        client.addHost(
            alias: "p", server: Self.server, port: proxy.port,
            extra: ["ServerAliveInterval 1", "ServerAliveCountMax 2", "ConnectTimeout 2"])
        return (client, proxy)
    }

    func testOutputCrossingAResetAndAStallArrivesWholeAndInOrder() throws {
        let (client, proxy) = proxiedClient()
        defer { _ = client.pss(["remove", "--host", "h1", "--all"]) }
        // 32 MiB of random data, sent a MiB at a time so that the cuts land mid-stream.
        let data = client.scratch.file("data")
        XCTAssertEqual(shell("head -c \(32 << 20) /dev/urandom > '\(data)'").status, 0)
        let expected = shell("sha256sum < '\(data)'").stdoutText

        let received = client.scratch.file("received")
        let running = try ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", client.configPath, "invoke", "--host", "p", "--",
                "i=0; while [ $i -lt 32 ]; do dd if='\(data)' bs=1048576 skip=$i count=1 2>/dev/null; sleep 0.05; i=$((i+1)); done",
            ], environment: client.baseEnvironment, stdoutFile: received)
        XCTAssertTrue(proxy.waitForBytes(6 << 20), "the stream never got going")
        proxy.resetAll()
        XCTAssertTrue(proxy.waitForBytes(16 << 20), "the stream did not resume after the reset")
        proxy.setMode(.stall)
        // The client finds the peer dead (keepalive), and its new connections stall too, until the network is back.
        XCTAssertTrue(Processes.waitUntil(limit: 30) { proxy.acceptedCount >= 3 })
        proxy.setMode(.forward)
        let result = running.wait(limit: 120)

        XCTAssertFalse(result.timedOut, "pss never finished")
        XCTAssertEqual(result.status, 0, result.stderrText)
        XCTAssertEqual(shell("stat -c %s '\(received)'").stdoutText, "\(32 << 20)\n")
        XCTAssertEqual(shell("sha256sum < '\(received)'").stdoutText, expected)
        XCTAssertTrue(result.stderrText.contains("reconnecting"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("reconnected"), result.stderrText)
    }

    func testGivingUpLeavesTheCommandRunningAndSaysHowToReceiveIt() throws {
        let (client, proxy) = proxiedClient()
        defer { _ = client.pss(["remove", "--host", "h1", "--all"]) }
        let early = client.scratch.file("early")
        let running = try ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", client.configPath, "invoke", "--reconnect-timeout", "3s", "--host", "p", "--",
                "echo early; while [ ! -e '\(client.scratch.file("go"))' ]; do sleep 0.1; done; echo late; exit 5",
            ], environment: client.baseEnvironment, stdoutFile: early)
        XCTAssertTrue(Processes.waitUntil { client.scratch.read("early") == "early\n" })
        proxy.setMode(.stall)
        let result = running.wait(limit: 60)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("gave up reconnecting"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("pss receive p/temp1"), result.stderrText)

        // The temporary session was kept, Disconnected (once sshd has dropped the silent client), its command running.
        XCTAssertTrue(
            Processes.waitUntil {
                let listed = client.pss(["get", "--host", "h1", "--json"]).stdoutText
                return listed.contains("\"name\":\"temp1\"") && listed.contains("\"state\":\"Disconnected\"")
            })
        XCTAssertEqual(shell("touch '\(client.scratch.file("go"))'").status, 0)
        proxy.setMode(.forward)
        let received = client.pss(["receive", "p/temp1"])
        XCTAssertEqual(received.status, 5, "\(received)")
        // This client remembers how far it got: "early" is not sent twice.
        XCTAssertEqual(received.stdoutText, "late\n")
    }

    func testClientKilledMidCommandThenAnotherMachineReceivesEverything() throws {
        let first = ClientMachine(servers: ["h1": Self.server])
        let second = ClientMachine(servers: ["h1": Self.server])
        defer { _ = first.pss(["remove", "--host", "h1", "--all"]) }
        let gate = first.scratch.file("gate")
        let running = try ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", first.configPath, "invoke", "--host", "h1", "--",
                "echo begin; while [ ! -e '\(gate)' ]; do sleep 0.1; done; seq 1 100000; echo end >&2; exit 6",
            ], environment: first.baseEnvironment)
        XCTAssertTrue(Processes.waitUntil { first.pss(["get", "--host", "h1", "--json"]).stdoutText.contains("\"command\":\"echo begin") })
        running.signal(SIGKILL)
        _ = running.wait()
        // The host sees the connection go: the temporary session stays, Disconnected, its command running.
        XCTAssertTrue(Processes.waitUntil { second.pss(["get", "--host", "h1", "--json"]).stdoutText.contains("\"state\":\"Disconnected\"") })
        XCTAssertEqual(shell("touch '\(gate)'").status, 0)

        let received = second.pss(["receive", "h1/temp1"])
        XCTAssertEqual(received.status, 6, "\(received)")
        XCTAssertEqual(received.stdoutText, "begin\n" + (1...100_000).map { "\($0)\n" }.joined())
        XCTAssertEqual(received.stderrText, "end\n")
        // Received whole: the temporary session is gone.
        XCTAssertEqual(second.pss(["get", "--host", "h1", "--json"]).stdoutText, "")
    }
}
