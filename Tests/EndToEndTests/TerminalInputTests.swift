import Foundation
import TestSupport
import XCTest

/// A command that asks for input on its terminal (read </dev/tty, a y/n question, sudo's password prompt) never
/// hangs when nobody can type: it gets end of file within seconds, and pss says what it waited for.
final class TerminalInputTests: HostFixtureTestCase {
    func testReadFromTheTerminalGetsEndOfFileAndTheSessionGoesOn() {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "tty"]).status, 0)
        defer { _ = client.pss(["remove", "h1/tty"]) }
        XCTAssertEqual(client.pss(["invoke", "--session", "h1/tty", "--", "KEPT=yes"]).status, 0)
        let cases = [
            // The shell's own read builtin, and a child process with a prompt of its own.
            ("read -r x </dev/tty; echo \"read returned $?\"", "read returned 1\n", nil),
            ("sh -c 'printf \"Continue? [y/N] \" >/dev/tty; read a </dev/tty; echo \"got [$a]\"'", "got []\n", "Continue? [y/N]"),
        ]
        for (command, expected, prompt) in cases {
            let started = Date()
            let result = client.pss(["invoke", "--session", "h1/tty", "--", command], limit: 30)
            XCTAssertFalse(result.timedOut, "\(command): \(result)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 15, command)
            XCTAssertEqual(result.stdoutText, expected, "\(command): \(result)")
            XCTAssertTrue(result.stderrText.contains("waited for input on its terminal"), "\(command): \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("pss enter"), result.stderrText)
            if let prompt { XCTAssertTrue(result.stderrText.contains(prompt), result.stderrText) }
            XCTAssertEqual(
                client.pss(["invoke", "--session", "h1/tty", "--wait", "0", "--", "echo $KEPT"]).stdoutText, "yes\n",
                "the session is usable after, its state kept")
        }
    }

    /// From a terminal, the command's terminal is the user's, as with ssh -t: its prompt shows, the answer is typed
    /// there (echoed by the remote terminal), and a password prompt does not echo.
    func testCommandReadingItsTerminalIsAnsweredFromTheUsersTerminal() {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "ask"]).status, 0)
        defer { _ = client.pss(["remove", "h1/ask"]) }
        let command =
            "printf \"Name? \" >/dev/tty; read n </dev/tty; echo \"hello $n\"; stty -echo </dev/tty; printf \"Secret? \" >/dev/tty; read s </dev/tty; echo \"got ${#s} characters\""
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --session h1/ask -- '\(command)'",
            environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("Name? "), terminal.screen)
        terminal.typeLine("Ada")
        XCTAssertTrue(terminal.waitFor("hello Ada"), terminal.screen)
        XCTAssertTrue(terminal.waitFor("Secret? "), terminal.screen)
        terminal.typeLine("hunter2")
        XCTAssertTrue(terminal.waitFor("got 7 characters"), terminal.screen)
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("hunter2"), "the secret is not echoed: \(terminal.screen)")
        XCTAssertFalse(terminal.screen.contains("waited for input"), terminal.screen)
    }

    /// sudo asking a real user's password: sudo runs as root, so pss cannot look into it; its prompt is what shows.
    func testSudoAskingForAPasswordEndsAndSaysSo() {
        let user = "pss-test-sudoer"
        LocalAccount.ensure(user, password: "sudo-test-password", shell: "/bin/bash")
        shell("usermod -aG sudo \(user)")
        defer { LocalAccount.remove(user) }
        let sudoer = ClientMachine(loggingInAs: user, to: server)
        let result = sudoer.pss(["invoke", "--host", "h", "--", "sudo id -un"], limit: 30)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertNotEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stderrText.contains("[sudo] password for \(user)"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("sudo -n"), result.stderrText)

        // From a terminal, the password is typed at sudo's prompt, as with ssh -t.
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(sudoer.configPath)' invoke --host h -- sudo id -un",
            environment: sudoer.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("[sudo] password for \(user)"), terminal.screen)
        terminal.typeLine("sudo-test-password")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("root\n"), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("sudo-test-password"), terminal.screen)
    }
}
