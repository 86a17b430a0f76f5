import Foundation
import TestSupport
import XCTest

/// A session's shell starts as an ssh login does: the user's login files read (PATH, variables, aliases, the
/// prompt), what they print kept out of every command's output; --no-profile starts a bare shell.
final class ProfileTests: XCTestCase {
    nonisolated(unsafe) static var server: SSHServer!
    nonisolated(unsafe) static var client: ClientMachine!
    static let user = "pss-test-profile"

    override class func setUp() {
        super.setUp()
        LocalAccount.ensure(user, password: "profile-test", shell: "/bin/bash")
        let home = String(cString: getpwnam(user)!.pointee.pw_dir)
        // As Debian's: .profile reads .bashrc, which returns at once in a shell without a prompt.
        let profile = """
            export FROM_PROFILE=profile
            [ -f "$HOME/slow-login" ] && sleep 0.2
            PATH="$HOME/bin:$PATH"
            echo "Welcome from .profile"
            [ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
            """
        let bashrc = """
            [ -z "$PS1" ] && return
            BASHRC_COUNT=$((BASHRC_COUNT + 1))
            alias ll='echo aliased'
            PS1='custom-prompt> '
            echo "noise from .bashrc" >&2
            """
        shell("mkdir -p '\(home)/bin' && printf '#!/bin/sh\\necho mytool ran\\n' > '\(home)/bin/mytool' && chmod 755 '\(home)/bin/mytool'")
        try! profile.write(toFile: home + "/.profile", atomically: true, encoding: .utf8)
        try! bashrc.write(toFile: home + "/.bashrc", atomically: true, encoding: .utf8)
        shell("chown -R \(user): '\(home)'")
        server = SSHServer()
        client = ClientMachine(loggingInAs: user, to: server)
    }

    override class func tearDown() {
        _ = client.pss(["remove", "--host", "h", "--all"])
        LocalAccount.remove(user)
        server = nil
        client = nil
        super.tearDown()
    }

    func testLoginFilesAreReadOnceAndPrintNothingIntoCommands() {
        let client = Self.client!
        XCTAssertEqual(client.pss(["new", "h", "--name", "login"]).status, 0)
        let result = client.pss(["invoke", "--session", "h/login", "--", "echo \"$FROM_PROFILE $BASHRC_COUNT\"; mytool; ll"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "profile 1\nmytool ran\naliased\n", "PATH, variables and aliases are the user's")
        XCTAssertEqual(result.stderrText, "", "what the login files print stays out of commands")

        XCTAssertEqual(client.pss(["new", "h", "--name", "bare", "--no-profile"]).status, 0)
        let bare = client.pss(["invoke", "--session", "h/bare", "--", "echo \"[$FROM_PROFILE]\"; command -v mytool || echo none"])
        XCTAssertEqual(bare.stdoutText, "[]\nnone\n", "\(bare)")
    }

    /// A program the login files run has the new shell's terminal for a while; that is not a session busy with
    /// something a user left running: a job or a command given at once waits for the shell, then starts.
    func testANewSessionTakesItsFirstCommandWhileTheLoginFilesStillRun() throws {
        let client = Self.client!
        let home = String(cString: getpwnam(Self.user)!.pointee.pw_dir)
        shell("touch '\(home)/slow-login'")
        defer { shell("rm -f '\(home)/slow-login'") }
        for round in 0..<25 {
            let name = "first\(round)"
            XCTAssertEqual(client.pss(["new", "h", "--name", name]).status, 0)
            let job = round < 20  // 20 jobs at once after new, then plain invokes
            let result = client.pss(
                ["invoke", "--session", "h/\(name)"] + (job ? ["--as-job", "--job-name", "j"] : []) + ["--", "echo \"$FROM_PROFILE\""])
            XCTAssertEqual(result.status, 0, "round \(round): \(result)")
            XCTAssertFalse(result.stderrText.contains("busy"), "round \(round): \(result)")
            if job {
                let output = client.pss(["job", "wait", "j", "--session", "h/\(name)"])
                XCTAssertEqual(output.status, 0, "\(output)")
                XCTAssertEqual(client.pss(["job", "receive", "j", "--session", "h/\(name)"]).stdoutText, "profile\n")
            } else {
                XCTAssertEqual(result.stdoutText, "profile\n")
            }
            XCTAssertEqual(client.pss(["remove", "h/\(name)"]).status, 0)
        }
    }

    func testEnterShowsTheUsersPromptAndWhatTheLoginFilesPrinted() {
        let client = Self.client!
        XCTAssertEqual(client.pss(["new", "h", "--name", "prompt"]).status, 0)
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(client.configPath)' enter h/prompt",
            environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("custom-prompt> "), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("Welcome from .profile"), "the login's greeting is on the terminal: \(terminal.screen)")
        terminal.press("C-\\\\")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
    }
}
