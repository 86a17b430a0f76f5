import Foundation
import SessionWire
import TestSupport
import XCTest

/// Text from the network (a server's banner, a helper's messages, names in tables, refusals) reaches the terminal
/// with its control characters escaped, as ssh escapes what servers send: it cannot retitle the window, clear the
/// screen or move the cursor.
final class UntrustedTextTests: XCTestCase {
    private static let escape: UInt8 = 0x1B

    private func assertNoControlBytes(_ data: Data, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(data.contains(Self.escape), "\(what) holds a raw ESC", file: file, line: line)
        XCTAssertFalse(data.contains(0x07), "\(what) holds a raw BEL", file: file, line: line)
        XCTAssertFalse(
            String(decoding: data, as: UTF8.self).unicodeScalars.contains { (0x80...0x9F).contains($0.value) },
            "\(what) holds a raw C1 control", file: file, line: line)
    }

    /// The server's identification, shown under -v before the host key is even checked.
    func testServerBannerIsEscaped() {
        var options = SSHServer.Options()
        options.extraConfig = ["VersionAddendum \u{1B}]0;pwned\u{07}\u{1B}[2Jhello"]
        let server = SSHServer(options)
        let client = ClientMachine(servers: ["h": server])
        let result = client.pss(["-v", "invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 0, "\(result)")
        assertNoControlBytes(result.stderr, "pss -v's output")
        XCTAssertTrue(result.stderrText.contains("\\x1b]0;pwned\\x07\\x1b[2Jhello"), result.stderrText)
    }

    /// A helper's message, here the host directory's name as the host's environment gives it.
    func testHelperMessageIsEscaped() {
        var options = SSHServer.Options()
        options.hostDirectory = "rel\u{1B}]0;pwned\u{07}dir"
        let server = SSHServer(options)
        let client = ClientMachine(servers: ["h": server])
        let result = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        assertNoControlBytes(result.stderr, "the message")
        XCTAssertTrue(result.stderrText.contains("rel\\x1b]0;pwned\\x07dir"), result.stderrText)
    }

    /// A host that answers with names and refusals full of control characters: a helper that is not pss's (it
    /// replays frames this test wrote), where pss's own would be.
    func testNamesAndRefusalsFromTheHostAreEscaped() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        XCTAssertEqual(client.pss(["invoke", "--host", "h", "--", "true"]).status, 0)
        let helpers = try FileManager.default.contentsOfDirectory(atPath: server.hostDirectory + "/bin").filter { $0.hasPrefix("pss-host-") }
        let helper = server.hostDirectory + "/bin/" + helpers[0]
        let hostile = "evil\u{1B}[2J\u{9B}31m\u{202E}name"
        func replay(_ answers: [HostMessage]) {
            let frames = client.scratch.file("frames")
            XCTAssertTrue(FileManager.default.createFile(atPath: frames, contents: Data(answers.flatMap { $0.encoded() })))
            try! "#!/bin/sh\necho 'pss-host relay ready v\(WireProtocol.version)'\ncat '\(frames)'\nsleep 2\n"
                .write(toFile: helper, atomically: false, encoding: .utf8)
            chmod(helper, 0o700)
        }
        let record = SessionRecord(
            id: UUID().uuidString.lowercased(), name: hostile, owner: "root\u{1B}[1m", heldBy: "x",
            createdAt: 0, idleTimeoutSeconds: 60, command: "sleep \u{1B}]0;t\u{07}")
        // get asks for the sessions, then for the configurations that let the user in.
        replay([.hello(version: WireProtocol.version, helper: "fake"), .sessions([record], more: false), .configurations([], more: false)])
        let table = client.pss(["get", "--host", "h"])
        XCTAssertEqual(table.status, 0, "\(table)")
        assertNoControlBytes(table.stdout, "the table")
        XCTAssertTrue(table.stdoutText.contains("evil\\x1b[2J\\u{9b}31m\\u{202e}name"), table.stdoutText)
        let json = client.pss(["get", "--host", "h", "--json"])
        assertNoControlBytes(json.stdout, "the JSON")
        XCTAssertTrue(json.stdoutText.contains(#"evil\u001b[2J\u009b31m\u202ename"#), json.stdoutText)

        replay([.hello(version: WireProtocol.version, helper: "fake"), .failure(.noSuchSession, "no \u{1B}]0;pwned\u{07} session\u{9B}2J")])
        let refused = client.pss(["invoke", "--session", "h/x", "--", "true"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        assertNoControlBytes(refused.stderr, "the refusal")
        XCTAssertTrue(refused.stderrText.contains("no \\x1b]0;pwned\\x07 session\\u{9b}2J"), refused.stderrText)
    }
}
