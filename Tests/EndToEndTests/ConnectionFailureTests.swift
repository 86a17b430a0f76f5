import Foundation
import TestSupport
import XCTest

/// Bad input and broken networks: a clear message and the documented status, never a hang.
final class ConnectionFailureTests: HostFixtureTestCase {
    func testClosedPort() {
        let port = freePort()
        let result = client.pss(["invoke", "-o", "StrictHostKeyChecking=yes", "--host", "127.0.0.1:\(port)", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("port \(port): Connection refused"), result.stderrText)
    }

    func testServerThatNeverAnswersTimesOut() {
        let proxy = TCPProxy(targetPort: server.port)
        proxy.setMode(.stall)
        let result = client.pss(["invoke", "-o", "ConnectTimeout=1", "--host", "127.0.0.1:\(proxy.port)", "--", "true"], limit: 30)
        XCTAssertFalse(result.timedOut, "pss hung")
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("timed out"), result.stderrText)
    }

    func testDeadPeerIsFoundByKeepalive() {
        let proxy = TCPProxy(targetPort: server.port)
        client.addHost(alias: "p", server: server, port: proxy.port, extra: ["ServerAliveInterval 1", "ServerAliveCountMax 2"])

        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--", "true"]).status, 0)  // the helper is installed
        let output = client.scratch.file("dead-peer-output")
        let running = try! ProcessRunner.start(
            PSSBinary.path, ["-F", client.configPath, "invoke", "--reconnect-timeout", "0", "--host", "p", "--", "echo started; sleep 60"],
            environment: client.baseEnvironment, stdoutFile: output)
        // Once the command has started, the network goes silent.
        XCTAssertTrue(Processes.waitUntil { client.scratch.read("dead-peer-output") == "started\n" })
        proxy.setMode(.stall)
        let result = running.wait(limit: 40)
        XCTAssertFalse(result.timedOut, "a dead peer was waited on forever")
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("not responding"), result.stderrText)
    }

    /// A server that closes the connection before saying anything (sshd's MaxStartups, a firewall): said in
    /// words, not as a library's error code.
    func testAServerThatHangsUpAtOnceIsSaidInWords() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in(
            sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(listener, $0, length)
                _ = getsockname(listener, $0, &length)
            }
        }
        listen(listener, 4)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let closer = Thread {
            let accepted = accept(listener, nil, nil)
            if accepted >= 0 { close(accepted) }
        }
        closer.start()
        let result = client.pss(["invoke", "-o", "StrictHostKeyChecking=yes", "127.0.0.1:\(port)", "--", "true"], limit: 30)
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("the server sent no SSH greeting"), result.stderrText)
        XCTAssertFalse(result.stderrText.contains("Failed getting banner"), result.stderrText)
        XCTAssertFalse(result.stderrText.contains("libssh2 error"), result.stderrText)
        XCTAssertFalse(result.stderrText.contains("127.0.0.1:\(port): 127.0.0.1"), "the host is named once: \(result.stderrText)")
    }

    /// A keyword pss does not use, given with -o, is refused (64) and the message says so: not "ignoring".
    func testAnUnusedKeywordGivenWithDashOIsRefusedInThoseWords() {
        let result = client.pss(["invoke", "-o", "SetEnv=FOO=bar", "h1", "--", "true"])
        XCTAssertEqual(result.status, 64, "\(result)")
        XCTAssertTrue(result.stderrText.contains("refused: pss does not use the keyword 'SetEnv'"), result.stderrText)
        XCTAssertFalse(result.stderrText.contains("ignoring"), result.stderrText)
    }

    func testMalformedConfigLineNamesFileAndLine() {
        let config = client.scratch.write("bad_config", "Host x\n    HostName 127.0.0.1\n    Port twenty-two\n")
        let result = client.pssRaw(["-F", config, "invoke", "--host", "x", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("\(config) line 3: bad port 'twenty-two'"), result.stderrText)
    }

    func testBadDashOIsAUsageError() {
        let result = client.pss(["invoke", "-o", "StrictHostKeyChecking=perhaps", "--host", "h1", "--", "true"])
        XCTAssertEqual(result.status, 64, "\(result)")
        XCTAssertTrue(result.stderrText.contains("StrictHostKeyChecking must be"), result.stderrText)
    }

    func testEmptyCommandIsAUsageError() {
        for arguments in [["invoke", "--host", "h1"], ["invoke", "--host", "h1", "--"], ["invoke", "--host", "h1", "--", ""]] {
            let result = client.pss(arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result)")
            XCTAssertTrue(result.stderrText.contains("no command given"), result.stderrText)
        }
    }

    func testUnknownOptionIsAUsageError() {
        for arguments in [["invoke", "--hots", "h1", "--", "true"], ["invoke", "--host", "h1", "--frobnicate"], ["--nope"]] {
            let result = client.pss(arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result)")
            XCTAssertTrue(result.stderrText.lowercased().contains("unknown option"), "\(arguments): \(result.stderrText)")
        }
    }

    func testHelpIsShownForEveryCommand() {
        for arguments in [["--help"], ["invoke", "--help"], ["invoke", "-h"], ["new", "--help"], ["get", "--help"], ["remove", "--help"]] {
            let result = client.pss(arguments)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result)")
            XCTAssertTrue(result.stdoutText.contains("USAGE:"), "\(arguments): \(result.stdoutText)")
        }
    }

    func testMissingHostIsAUsageError() {
        let result = client.pss(["invoke", "--", "true"])
        XCTAssertEqual(result.status, 64, "\(result)")
        XCTAssertTrue(result.stderrText.contains("--host"), result.stderrText)
    }

    func testHostileHostIsAUsageError() {
        for host in ["", "-oProxyCommand=x", "a\u{1}b", "h:99999", "user@"] {
            let result = client.pss(["invoke", "--host", host, "--", "true"])
            XCTAssertEqual(result.status, 64, "\(host.debugDescription): \(result)")
        }
    }

    func testUnresolvableHostName() {
        let result = client.pss(["invoke", "--host", "no-such-host.invalid", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("could not resolve hostname no-such-host.invalid"), result.stderrText)
    }

    func testProxyJumpAndProxyCommandTogetherAreRefused() {
        let result = client.pss(["invoke", "-J", "127.0.0.1:1", "-o", "ProxyCommand=false", "--host", "h1", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("both ProxyJump and ProxyCommand"), result.stderrText)
    }

    func testAnUnreachableJumpHostIsSaidSo() {
        let result = client.pss(["invoke", "-J", "127.0.0.1:1", "--host", "h1", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("127.0.0.1 port 1"), result.stderrText)
    }
}
