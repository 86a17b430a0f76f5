import Foundation
import Glibc
import TestSupport
import XCTest

/// `pss enter`, driven through a real terminal (tmux) as a person would: one state shared with invoke, the
/// window size followed, Ctrl-C to the remote program, full-screen programs, leaving and coming back.
final class EnterTests: TwoMachinesTestCase {
    /// `pss enter` in a terminal; once it ends, the local terminal's settings are shown as "[settings icanon,echo,]"
    /// (what a user finds after leaving), then its status as "[exit N]".
    private func enter(_ target: String, as client: ClientMachine? = nil, options: String = "") -> TmuxTerminal {
        let client = client ?? laptop
        let settings = "printf '[settings %s]\\n' \"$(stty -a | grep -o -- ' icanon\\| echo ' | tr -d ' ' | tr '\\n' ,)\""
        let command = "'\(PSSBinary.path)' -F '\(client.configPath)' enter \(options) \(target); s=$?; \(settings); (exit $s)"
        let terminal = TmuxTerminal(command: command, environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("root@"), "the session's prompt: \(terminal.screen)")
        return terminal
    }

    private func session(_ name: String, as client: ClientMachine) -> [String: Any]? {
        client.pss(["get", "--host", "h1", "--json"]).stdoutText.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["name"] as? String == name }
    }

    /// Leaves with the detach key (Ctrl-\\), and waits for pss to end with 0.
    private func detach(_ terminal: TmuxTerminal, file: StaticString = #filePath, line: UInt = #line) {
        terminal.press("C-\\\\")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen, file: file, line: line)
    }

    /// Types a line and waits for what it prints (a marker the line computes, so the typed text is not mistaken
    /// for its output).
    private func run(_ terminal: TmuxTerminal, _ line: String, shows expected: String, file: StaticString = #filePath, line number: UInt = #line) {
        terminal.typeLine(line)
        XCTAssertTrue(terminal.waitFor(expected), "\(line): \(terminal.screen)", file: file, line: number)
    }

    /// The user sees only what their shell and commands print: not the lines pss types into the session's shell
    /// (its prompt and echo on the way in and out, a command's end after a Ctrl-C), live or replayed; and, once, on
    /// arrival, how to leave.
    func testNoPlumbingOnTheScreenOrInItsReplay() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "clean"]).status, 0)
        let first = enter("h1/clean")
        XCTAssertTrue(first.screen.contains("entered h1/clean: exit or Ctrl-D at its prompt leaves, Ctrl-\\ detaches"), first.screen)
        run(first, "echo visit$((1 + 1))", shows: "visit2")
        detach(first)
        // An invoke from a terminal, interrupted: the shell abandons its line, pss types its end.
        let interrupted = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(laptop.configPath)' invoke h1/clean -- 'echo started; sleep 3181'; echo \"[exit $?]\"",
            environment: laptop.baseEnvironment)
        XCTAssertTrue(interrupted.waitFor("started"), interrupted.screen)
        interrupted.press("C-c")
        XCTAssertTrue(interrupted.waitFor("[exit 130]"), interrupted.screen)
        let second = enter("h1/clean")
        run(second, "echo visit$((2 + 1))", shows: "visit3")
        for plumbing in [">&3", "export TERM", "stty echo", "PS1=", "set +o emacs", "__pss"] {
            XCTAssertFalse(interrupted.screen.contains(plumbing), "\(plumbing): \(interrupted.screen)")
            XCTAssertFalse(second.screen.contains(plumbing), "\(plumbing): \(second.screen)")
        }
        XCTAssertTrue(second.screen.contains("visit2"), "the replay: \(second.screen)")
        XCTAssertEqual(second.screen.components(separatedBy: "entered h1/clean").count - 1, 1, second.screen)
        detach(second)
        let id = (session("clean", as: laptop)?["id"] as? String) ?? "?"
        let log = (try? String(contentsOfFile: server.sessionsDirectory + "/\(id)/pty.log", encoding: .utf8)) ?? "no log"
        XCTAssertTrue(log.contains("visit3"), log)
        XCTAssertFalse(log.contains(">&3") || log.contains("export TERM"), log)
    }

    func testStateIsSharedWithInvokeBothWays() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "shared"]).status, 0)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/shared", "--", "FROM_INVOKE=fromInvoke; cd /tmp"]).status, 0)
        let terminal = enter("h1/shared")
        run(terminal, "echo \"[$FROM_INVOKE $(pwd)]\"", shows: "[fromInvoke /tmp]")
        run(terminal, "FROM_ENTER=fromEnter; cd /var; echo set$((1 + 1))", shows: "set2")
        detach(terminal)
        XCTAssertTrue(terminal.screen.contains("detached from h1/shared"), terminal.screen)
        let seen = laptop.pss(["invoke", "--session", "h1/shared", "--", "echo \"$FROM_ENTER $(pwd)\""])
        XCTAssertEqual(seen.stdoutText, "fromEnter /var\n", "\(seen)")
    }

    func testWindowSizeFollowsAResize() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "size"]).status, 0)
        let terminal = enter("h1/size")
        run(terminal, "echo \"size $(stty size)\"", shows: "size 24 80")
        terminal.resize(columns: 100, rows: 30)
        run(terminal, "echo \"size $(stty size)\"", shows: "size 30 100")
        detach(terminal)
    }

    func testCtrlCStopsTheRemoteProgramAndTheShellStays() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "ctrlc"]).status, 0)
        let terminal = enter("h1/ctrlc")
        run(terminal, "KEEP=kept; echo go$((2 * 3))", shows: "go6")
        terminal.typeLine("sleep 3181; echo not-$((1 + 1))reached")
        XCTAssertTrue(Processes.waitUntil(limit: 10) { !Processes.matching("^sleep 3181").isEmpty })
        terminal.press("C-c")
        XCTAssertTrue(Processes.waitUntil(limit: 10) { Processes.matching("^sleep 3181").isEmpty })
        run(terminal, "echo \"still $KEEP\"", shows: "still kept")
        XCTAssertFalse(terminal.screen.contains("not-2reached"), terminal.screen)
        detach(terminal)
    }

    func testExitAndCtrlDAtThePromptLeaveTheSessionOpen() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "leave"]).status, 0)
        let first = enter("h1/leave")
        run(first, "STATE=survives; echo ok$((40 + 2))", shows: "ok42")
        run(first, "exit", shows: "[exit 0]")
        XCTAssertTrue(first.screen.contains("it stays open with its state"), first.screen)
        XCTAssertEqual(session("leave", as: laptop)?["state"] as? String, "Opened")

        let second = enter("h1/leave")
        second.typeLine("bash --norc")
        run(second, "PS1='nested> '; echo in-nested-$((2 + 2))", shows: "in-nested-4")
        second.typeLine("exit")  // the nested shell's exit ends only it
        run(second, "echo \"back in $STATE\"", shows: "back in survives")
        second.press("C-d")
        XCTAssertTrue(second.waitFor("[exit 0]"), second.screen)
        XCTAssertTrue(second.screen.contains("it stays open with its state"), second.screen)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/leave", "--", "echo $STATE"]).stdoutText, "survives\n")
    }

    func testFullScreenProgramWorksAndTheTerminalIsSaneAfter() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "vim"]).status, 0)
        let file = laptop.scratch.file("edited.txt")
        let terminal = enter("h1/vim")
        run(terminal, "echo ready$((3 + 4))", shows: "ready7")
        terminal.typeLine("vim -u NONE -N '\(file)'")
        XCTAssertTrue(terminal.waitFor("[New]"), "vim shows its empty buffer: \(terminal.screen)")
        terminal.type("ihello from vim")
        terminal.press("Escape")
        terminal.typeLine(":wq")
        // Keys typed before vim is gone would be vim's.
        XCTAssertTrue(Processes.waitUntil(limit: 10) { Processes.matching("^vim -u NONE").isEmpty })
        run(terminal, "echo \"file: $(cat '\(file)')\"", shows: "file: hello from vim")
        detach(terminal)
        XCTAssertTrue(terminal.screen.contains("[settings icanon,echo,]"), "the local terminal is restored: \(terminal.screen)")
    }

    func testOutputWhileDetachedIsSeenOnReentryFromAnotherMachine() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "loop"]).status, 0)
        let terminal = enter("h1/loop")
        let gate = laptop.scratch.file("loop-gate")
        run(terminal, "for i in 1 2 3 4 5; do echo tick-$i; [ $i = 2 ] && while [ ! -e '\(gate)' ]; do sleep 0.1; done; done", shows: "tick-2")
        detach(terminal)
        FileManager.default.createFile(atPath: gate, contents: nil)
        XCTAssertEqual(desktop.pss(["connect", "h1/loop", "--force"]).status, 0)
        let other = enter("h1/loop", as: desktop)
        XCTAssertTrue(other.waitFor("tick-5"), "what ran while nobody was entered is shown: \(other.screen)")
        detach(other)
    }

    /// Entering a session whose command runs (a job): its output shows live, and keys reach it.
    func testEnteringASessionWhoseCommandRunsShowsItAndTypesIntoIt() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "running"]).status, 0)
        let gate = laptop.scratch.file("running-gate")
        let command =
            "while [ ! -e '\(gate)' ]; do echo job-tick; sleep 0.2; done; printf 'Answer? ' >/dev/tty; read answer </dev/tty; echo \"job got $answer\"; echo job-done"
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/running", "--as-job", "--", command]).status, 0)
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(laptop.configPath)' enter h1/running",
            environment: laptop.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("job-tick"), "the command's output shows live: \(terminal.screen)")
        FileManager.default.createFile(atPath: gate, contents: nil)
        XCTAssertTrue(terminal.waitFor("Answer? "), terminal.screen)
        terminal.typeLine("yes")
        XCTAssertTrue(terminal.waitFor("job got yes"), terminal.screen)
        XCTAssertTrue(terminal.waitFor("job-done"), terminal.screen)
        run(terminal, "echo prompt-back-$((3 * 3))", shows: "prompt-back-9")  // the shell's prompt, once the job ended
        detach(terminal)
    }

    func testTemporarySessionLeavesNothingBehind() {
        let terminal = enter("h1")
        run(terminal, "echo temp$((5 + 5)); sleep 3183 &", shows: "temp10")
        run(terminal, "exit", shows: "[exit 0]")
        XCTAssertTrue(terminal.screen.contains("the temporary session is closed"), terminal.screen)
        XCTAssertTrue(
            Processes.waitUntil(limit: 10) { Processes.matching("sleep 3183").isEmpty },
            "no process of it is left")
        let sessions = laptop.pss(["get", "--host", "h1", "--json"]).stdoutText
        XCTAssertFalse(sessions.contains("\"temporary\":true"), sessions)
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: Self.server.sessionsDirectory)) ?? [])
        let ids = sessions.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { $0["id"] as? String }
        XCTAssertEqual(before, Set(ids), "no directory is left of the temporary session")
    }

    func testOneAtATimeAndForceTakesOver() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "busy"]).status, 0)
        let terminal = enter("h1/busy")
        run(terminal, "echo in$((1 + 8))", shows: "in9")
        let waiting = laptop.pss(["invoke", "--session", "h1/busy", "--wait", "0", "--", "true"])
        XCTAssertEqual(waiting.status, 254, "an invoke waits while someone is entered: \(waiting)")
        XCTAssertTrue(waiting.stderrText.contains("entered"), waiting.stderrText)

        let refused = desktop.pss(["invoke", "--session", "h1/busy", "--", "true"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        let taker = enter("h1/busy", as: desktop, options: "--force")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), "the first client is told and leaves cleanly: \(terminal.screen)")
        XCTAssertTrue(terminal.screen.contains("another pss entered this session"), terminal.screen)
        run(taker, "echo taken$((6 + 6))", shows: "taken12")
        detach(taker)
    }

    /// The connection cut while entered: pss reconnects and the screen comes back; the session was kept.
    func testConnectionResetWhileEnteredResumes() {
        let proxy = TCPProxy(targetPort: Self.server.port)
        defer { proxy.stop() }
        laptop.addHost(
            alias: "p", server: Self.server, port: proxy.port,
            extra: ["ServerAliveInterval 1", "ServerAliveCountMax 2", "ConnectTimeout 2"])
        XCTAssertEqual(laptop.pss(["new", "p", "--name", "cut"]).status, 0)
        let terminal = enter("p/cut")
        run(terminal, "KEPT=across; echo before$((1 + 2))", shows: "before3")
        proxy.resetAll()
        XCTAssertTrue(terminal.waitFor("reconnected"), terminal.screen)
        run(terminal, "echo \"after $KEPT\"", shows: "after across")

        // Keys sent into a connection that then breaks (held by the stalled proxy, dropped by the reset) are typed
        // once the host is reached again, and only once.
        proxy.setMode(.stall)
        terminal.typeLine("echo \"typed-$((2 + 2))-once\"")
        usleep(500_000)  // time for pss to send them into the stalled connection (not an assertion)
        proxy.resetAll()
        proxy.setMode(.forward)
        XCTAssertTrue(terminal.waitFor("typed-4-once"), terminal.screen)
        run(terminal, "echo done-$((3 + 3))", shows: "done-6")
        XCTAssertEqual(
            terminal.screen.components(separatedBy: "typed-4-once").count - 1, 1,
            "the line ran exactly once: \(terminal.screen)")
        detach(terminal)
        XCTAssertTrue(terminal.screen.contains("[settings icanon,echo,]"), terminal.screen)
    }

    // MARK: What an entered user, or a program, cannot break

    func testKeysForAProgramThatDoesNotReadDoNotHoldUpTheDaemon() throws {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "paste"]).status, 0)
        let terminal = enter("h1/paste")
        run(terminal, "stty raw -echo; echo raw$((7 * 7)); sleep 30; stty sane", shows: "raw49")
        let paste = laptop.scratch.write("paste.txt", String(repeating: "0123456789abcdef", count: 20_000))
        terminal.paste(file: paste)
        let other = desktop.pss(["get", "--host", "h1"], limit: 10)
        XCTAssertFalse(other.timedOut, "the daemon answers others while the keys wait: \(other)")
        XCTAssertEqual(other.status, 0, "\(other)")
        terminal.press("C-c")
        detach(terminal)
    }

    func testAnInvokeWaitsForAProgramLeftRunningAndNeverTypesIntoIt() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "left"]).status, 0)
        let first = enter("h1/left")
        first.typeLine("sleep 3191")
        XCTAssertTrue(Processes.waitUntil(limit: 10) { !Processes.matching("^sleep 3191").isEmpty })
        detach(first)
        let refused = laptop.pss(["invoke", "--session", "h1/left", "--wait", "0", "--", "echo typed"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("still runs on its terminal"), refused.stderrText)
        let second = enter("h1/left", options: "--force")
        second.press("C-c")
        detach(second)
        let after = laptop.pss(["invoke", "--session", "h1/left", "--", "echo now-$((1 + 1))"])
        XCTAssertEqual(after.stdoutText, "now-2\n", "\(after)")
    }

    func testALineLeftHalfTypedIsNeverRun() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "half"]).status, 0)
        let marker = laptop.scratch.file("half-typed-ran")
        let terminal = enter("h1/half")
        run(terminal, "echo in$((2 + 2))", shows: "in4")
        terminal.type("touch '\(marker)'")  // no Enter
        detach(terminal)
        let term = laptop.pss(["invoke", "--session", "h1/half", "--", "echo $TERM"])
        XCTAssertEqual(term.stdoutText, "dumb\n", "commands get TERM=dumb again: \(term)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: laptop.scratch.file(""))) ?? []
        XCTAssertFalse(left.contains { $0.hasPrefix("half-typed-ran") }, "the half-typed line ran: \(left)")
    }

    /// The line is edited as in an ssh login: readline's history and keys.
    func testLineEditingAndHistory() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "history"]).status, 0)
        let terminal = enter("h1/history")
        run(terminal, "echo first-$((5 * 5))", shows: "first-25")
        terminal.press("Up")
        terminal.press("Enter")
        XCTAssertTrue(
            Processes.waitUntil(limit: 10) { terminal.screen.components(separatedBy: "first-25").count >= 3 },
            "the line came back from history and ran again: \(terminal.screen)")
        terminal.type("echo abc")
        terminal.press("C-a")
        terminal.typeLine("X=1; ")
        XCTAssertTrue(terminal.waitFor("\nabc"), "the cursor moved to the line's start: \(terminal.screen)")
        terminal.press("C-d")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), "Ctrl-D on an empty line leaves: \(terminal.screen)")
        XCTAssertTrue(terminal.screen.contains("it stays open with its state"), terminal.screen)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/history", "--", "echo back-$((1 + 1))"]).stdoutText, "back-2\n")
    }

    func testExitKeepsItsStatusAndSubshellsAndCtrlDCannotEndTheShell() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "exits"]).status, 0)
        XCTAssertEqual(
            laptop.pss(["invoke", "--session", "h1/exits", "--", "f() { return 4; }; f || exit"]).status, 4,
            "a bare exit keeps the last status")
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/exits", "--", "X=precious"]).status, 0)
        let terminal = enter("h1/exits")
        run(terminal, "( exit 2 ); echo after-$?", shows: "after-2")
        terminal.type("ab")
        terminal.press("C-w")
        for _ in 0..<12 { terminal.press("C-d") }
        terminal.press("C-u")
        terminal.press("Enter")
        run(terminal, "echo still-$X", shows: "still-precious")
        detach(terminal)
    }

    func testSIGTERMToTheClientLeavesTheTerminalSane() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "term"]).status, 0)
        let terminal = enter("h1/term")
        run(terminal, "echo up$((9 + 1))", shows: "up10")
        let pid = Processes.matching("enter +h1/term").first
        XCTAssertNotNil(pid)
        if let pid { kill(pid, SIGTERM) }
        XCTAssertTrue(terminal.waitFor("[exit 143]"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("[settings icanon,echo,]"), "the local terminal is restored: \(terminal.screen)")
        XCTAssertEqual(session("term", as: laptop)?["state"] as? String, "Opened")
    }
}
