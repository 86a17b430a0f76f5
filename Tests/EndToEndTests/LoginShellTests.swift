import Foundation
import TestSupport
import XCTest

/// Users of every login shell admins meet: what pss runs on the host reaches a POSIX sh whatever the shell's syntax
/// (csh expands `!` inside quotes, fish quotes differently), what their rc files print is skipped, and invoked words
/// arrive as written. Each user gets the helper in their default host directory.
final class LoginShellTests: XCTestCase {
    nonisolated(unsafe) static var server: SSHServer!
    nonisolated(unsafe) static var client: ClientMachine!

    /// (account, login shell, rc file that prints, relative to the home)
    static let accounts: [(String, String, String?)] = [
        ("pss-test-sh", "/bin/sh", nil), ("pss-test-dash", "/bin/dash", nil), ("pss-test-bash", "/bin/bash", ".bashrc"),
        ("pss-test-zsh", "/usr/bin/zsh", ".zshenv"), ("pss-test-ksh", "/usr/bin/ksh93", nil),
        ("pss-test-fish", "/usr/bin/fish", ".config/fish/config.fish"), ("pss-test-tcsh", "/usr/bin/tcsh", ".tcshrc"),
        ("pss-test-csh", "/bin/bsd-csh", ".cshrc"),
    ]

    override class func setUp() {
        super.setUp()
        server = SSHServer()
        client = ClientMachine()
        var config: [String] = []
        for (account, loginShell, rcFile) in accounts {
            LocalAccount.ensure(account, password: "shell-test", shell: loginShell)
            if let rcFile {
                let home = String(cString: getpwnam(account)!.pointee.pw_dir)
                // bash's greeting has no newline of its own: what follows it is pss's, on the same line.
                let noise = rcFile == ".bashrc" ? "printf 'noise from .bashrc, no newline'" : "echo noise from \(rcFile)"
                shell("mkdir -p \"$(dirname '\(home)/\(rcFile)')\" && echo \"\(noise)\" > '\(home)/\(rcFile)' && chown -R \(account): '\(home)'")
            }
            server.authorize(client.publicKey, user: account)
            config += client.hostBlock(alias: account, server: server, user: account)
        }
        client.writeConfig(config)
        try! (server.knownHostsLine() + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
    }

    override class func tearDown() {
        for (account, _, _) in accounts { LocalAccount.remove(account) }
        server = nil
        client = nil
        super.tearDown()
    }

    /// One-shot with hostile words, a pipeline, a session that keeps its state, and a job received after a
    /// disconnect.
    private func check(_ account: String, file: StaticString = #filePath, line: UInt = #line) {
        let client = Self.client!
        let words = ["a b", "c'd", "$HOME", ";ls", "`id`", "!x", "$(id)", "x\"y", "*", "~", "#", "\\", "!!"]
        let echoed = client.pss(["invoke", "--host", account, "--", "printf", "%s\\n"] + words)
        XCTAssertEqual(echoed.status, 0, "\(echoed)", file: file, line: line)
        XCTAssertEqual(echoed.stdoutText, words.map { $0 + "\n" }.joined(), file: file, line: line)
        XCTAssertEqual(
            client.pss(["invoke", "--host", account, "--", "printf 'x\\ny\\n' | wc -l | tr -d ' '"]).stdoutText, "2\n",
            file: file, line: line)
        XCTAssertEqual(client.pss(["invoke", "--host", account, "--", "id -un"]).stdoutText, "\(account)\n", file: file, line: line)

        XCTAssertEqual(client.pss(["new", account, "--name", "state"]).status, 0, file: file, line: line)
        XCTAssertEqual(client.pss(["invoke", "--session", "\(account)/state", "--", "cd /tmp && X='it'\"'\"'s'"]).status, 0, file: file, line: line)
        XCTAssertEqual(
            client.pss(["invoke", "--session", "\(account)/state", "--", "echo \"$X\" \"$(pwd)\""]).stdoutText, "it's /tmp\n",
            file: file, line: line)
        XCTAssertEqual(
            client.pss(["invoke", "--session", "\(account)/state", "--as-job", "--job-name", "later", "--", "echo done"]).status, 0,
            file: file, line: line)
        XCTAssertEqual(client.pss(["disconnect", "\(account)/state"]).status, 0, file: file, line: line)
        let received = client.pss(["receive", "\(account)/state"])
        XCTAssertEqual(received.status, 0, "\(received)", file: file, line: line)
        XCTAssertEqual(received.stdoutText, "done\n", file: file, line: line)
        XCTAssertEqual(client.pss(["remove", "\(account)/state"]).status, 0, file: file, line: line)
    }

    func testSh() { check("pss-test-sh") }
    func testDash() { check("pss-test-dash") }
    func testBashWhoseBashrcPrints() { check("pss-test-bash") }
    func testZshWhoseZshenvPrints() { check("pss-test-zsh") }
    func testKsh() { check("pss-test-ksh") }
    func testFishWhoseConfigPrints() { check("pss-test-fish") }
    func testTcshWhoseTcshrcPrints() { check("pss-test-tcsh") }
    func testCshWhoseCshrcPrints() { check("pss-test-csh") }
}
