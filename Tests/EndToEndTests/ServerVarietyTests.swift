import Foundation
import TestSupport
import XCTest

/// The servers admins have besides a Debian with bash and OpenSSH: a host without bash, and dropbear.
final class ServerVarietyTests: XCTestCase {
    static let user = "pss-test-variety"

    override class func setUp() {
        super.setUp()
        LocalAccount.ensure(user, password: "variety-test", shell: "/bin/sh")
    }

    override class func tearDown() {
        LocalAccount.remove(user)
        super.tearDown()
    }

    /// Sessions that keep their state, a pipeline, a job received after a disconnect: what a user does first.
    private func exercise(_ client: ClientMachine, expectingShell shellName: String, file: StaticString = #filePath, line: UInt = #line) {
        let once = client.pss(["invoke", "--host", "h", "--", "printf '%s\\n' 'a b' \"c'd\" | wc -l | tr -d ' '"])
        XCTAssertEqual(once.status, 0, "\(once)", file: file, line: line)
        XCTAssertEqual(once.stdoutText, "2\n", file: file, line: line)
        XCTAssertEqual(client.pss(["new", "h", "--name", "s"]).status, 0, file: file, line: line)
        XCTAssertEqual(
            client.pss(["invoke", "--session", "h/s", "--", "cd /tmp && N=41 && add() { echo $(($1 + 1)); }"]).status, 0,
            file: file, line: line)
        let state = client.pss(["invoke", "--session", "h/s", "--", "echo $(add $N) $(pwd) $(basename \"$(readlink /proc/$$/exe)\")"])
        XCTAssertEqual(state.stdoutText, "42 /tmp \(shellName)\n", "\(state)", file: file, line: line)
        XCTAssertEqual(client.pss(["invoke", "--session", "h/s", "--as-job", "--", "echo later"]).status, 0, file: file, line: line)
        XCTAssertEqual(client.pss(["disconnect", "h/s"]).status, 0, file: file, line: line)
        let received = client.pss(["receive", "h/s"])
        XCTAssertEqual(received.stdoutText, "later\n", "\(received)", file: file, line: line)
        XCTAssertEqual(client.pss(["remove", "h/s"]).status, 0, file: file, line: line)
    }

    /// A host where bash cannot run (a /dev/null over it, in sshd's own mount namespace): sessions run in sh.
    func testHostWithoutBash() {
        var options = SSHServer.Options()
        options.hiddenPrograms = ["/usr/bin/bash"]
        let server = SSHServer(options)
        let client = ClientMachine(loggingInAs: Self.user, to: server)
        XCTAssertNotEqual(client.pss(["invoke", "--host", "h", "--", "bash -c true"]).status, 0, "bash still runs on this host")
        exercise(client, expectingShell: "dash")

        // pss enter in sh: its prompt, state shared with invoke, and exit leaving the session open.
        XCTAssertEqual(client.pss(["new", "h", "--name", "sh"]).status, 0)
        XCTAssertEqual(client.pss(["invoke", "--session", "h/sh", "--", "IN_SH=kept"]).status, 0)
        let terminal = TmuxTerminal(command: "'\(PSSBinary.path)' -F '\(client.configPath)' enter h/sh", environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("$ "), terminal.screen)
        terminal.typeLine("echo \"sh has $IN_SH $((6 + 1))\"")
        XCTAssertTrue(terminal.waitFor("sh has kept 7"), terminal.screen)
        terminal.typeLine("exit")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("it stays open with its state"), terminal.screen)
        XCTAssertEqual(client.pss(["invoke", "--session", "h/sh", "--", "echo $IN_SH"]).stdoutText, "kept\n")
        XCTAssertEqual(client.pss(["remove", "h/sh"]).status, 0)
    }

    func testDropbear() {
        let server = DropbearServer()
        let client = ClientMachine(loggingInAs: Self.user, to: server)
        let banner = client.pss(["-v", "invoke", "--host", "h", "--", "true"])
        XCTAssertTrue(banner.stderrText.contains("dropbear"), banner.stderrText)
        exercise(client, expectingShell: "bash")
        let home = String(cString: getpwnam(Self.user)!.pointee.pw_dir)
        XCTAssertTrue(FileManager.default.fileExists(atPath: home + "/.local/state/pss-host/bin"), "the default host directory is used")

        // pss enter through dropbear: the session's terminal, and back out with the detach key.
        XCTAssertEqual(client.pss(["new", "h", "--name", "entered"]).status, 0)
        XCTAssertEqual(client.pss(["invoke", "--session", "h/entered", "--", "VIA=dropbear"]).status, 0)
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(client.configPath)' enter h/entered",
            environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("\(Self.user)@"), terminal.screen)
        terminal.typeLine("echo \"through $VIA $((20 + 1))\"")
        XCTAssertTrue(terminal.waitFor("through dropbear 21"), terminal.screen)
        terminal.press("C-\\\\")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        XCTAssertEqual(client.pss(["remove", "h/entered"]).status, 0)
    }
}
