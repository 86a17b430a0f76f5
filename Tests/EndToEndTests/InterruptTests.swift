import Foundation
import Glibc
import TestSupport
import XCTest

/// Ctrl-C, SIGTERM and SIGHUP on `invoke` and `receive`, pressed in a real terminal (tmux) or sent to the client:
/// the first Ctrl-C stops the remote command, a second one (or TERM, HUP) leaves it running, Disconnected.
final class InterruptTests: TwoMachinesTestCase {
    /// pss as the laptop runs it in a terminal.
    private func terminal(_ arguments: String) -> TmuxTerminal {
        TmuxTerminal(command: "'\(PSSBinary.path)' -F '\(laptop.configPath)' \(arguments)", environment: laptop.baseEnvironment)
    }

    /// Processes on this machine (the host) whose command line holds `marker`.
    private func remoteProcesses(_ marker: String) -> String {
        ProcessRunner.run("/usr/bin/pgrep", ["-af", marker]).stdoutText
            .split(separator: "\n").filter { !$0.contains("pgrep") && !$0.contains("tmux") && !$0.contains(" invoke ") }
            .joined(separator: "\n")
    }

    private func state(of name: String, as client: ClientMachine) -> String? {
        client.pss(["get", "--host", "h1", "--json"]).stdoutText.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["name"] as? String == name }?["state"] as? String
    }

    func testCtrlCStopsTheCommandAndTheSessionGoesOnWithItsState() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "ctrlc"]).status, 0)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/ctrlc", "--", "cd /tmp; KEPT=yes"]).status, 0)
        for (marker, command) in [
            ("sleep 3171", "echo started; sleep 3171; echo not reached"),
            ("builtin loop", "echo started; while :; do : builtin loop; done; echo not reached"),
            ("sleep 3173", "echo started; sleep 3173 | cat; echo not reached"),
        ] {
            let shown = terminal("invoke --session h1/ctrlc -- '\(command)'")
            XCTAssertTrue(shown.waitFor("started"), shown.screen)
            shown.press("C-c")
            XCTAssertTrue(shown.waitFor("[exit 130]"), "\(marker): \(shown.screen)")
            XCTAssertFalse(shown.screen.contains("not reached"), shown.screen)
            XCTAssertFalse(shown.screen.contains("detached"), shown.screen)
            XCTAssertEqual(remoteProcesses(marker), "", "\(marker): nothing of the command is left on the host")
            let after = laptop.pss(["invoke", "--session", "h1/ctrlc", "--wait", "0", "--", "echo \"$KEPT $PWD\""])
            XCTAssertEqual(after.stdoutText, "yes /tmp\n", "\(marker): the session is usable at once, its state kept: \(after)")
        }
        XCTAssertEqual(state(of: "ctrlc", as: laptop), "Opened")
    }

    /// A SIGINT that does not come from pss (the command signals itself) abandons the shell's line: its end is
    /// found all the same, and the session goes on with its state.
    func testACommandInterruptedFromElsewhereStillEnds() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "self"]).status, 0)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/self", "--", "KEPT=yes"]).status, 0)
        let result = laptop.pss(["invoke", "--session", "h1/self", "--", "sh -c 'kill -INT $$'; echo not reached"], limit: 30)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 130, "\(result)")
        XCTAssertFalse(result.stderrText.contains("waited for input"), result.stderrText)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/self", "--", "echo $KEPT"]).stdoutText, "yes\n")
    }

    func testCtrlCOnATemporarySessionLeavesNothingOnTheHost() {
        let shown = terminal("invoke --host h1 -- 'echo started; sleep 3174'")
        XCTAssertTrue(shown.waitFor("started"), shown.screen)
        shown.press("C-c")
        XCTAssertTrue(shown.waitFor("[exit 130]"), shown.screen)
        XCTAssertEqual(remoteProcesses("sleep 3174"), "")
        let sessions = laptop.pss(["get", "--host", "h1", "--json"]).stdoutText
        XCTAssertFalse(sessions.contains("\"name\":\"temp"), "no temporary session is left: \(sessions)")
    }

    func testASecondCtrlCDetachesAndAnotherClientReceivesTheRest() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "twice"]).status, 0)
        let gate = laptop.scratch.file("gate-twice")
        // The command survives the first SIGINT (it traps it), so the second Ctrl-C finds it running.
        let script = laptop.scratch.write("twice.sh", "trap 'echo got INT' INT; echo one; while [ ! -e \(gate) ]; do sleep 0.1; done; echo two; exit 5\n")
        let shown = terminal("invoke --session h1/twice -- sh \(script)")
        XCTAssertTrue(shown.waitFor("one"), shown.screen)
        shown.press("C-c")
        XCTAssertTrue(shown.waitFor("got INT"), shown.screen)
        shown.press("C-c")
        XCTAssertTrue(shown.waitFor("[exit 130]"), shown.screen)
        XCTAssertTrue(shown.screen.contains("detached; the command (job 1) runs on in session h1/twice, now Disconnected"), shown.screen)
        XCTAssertTrue(shown.screen.contains("pss receive h1/twice"), shown.screen)
        XCTAssertEqual(state(of: "twice", as: desktop), "Disconnected")

        FileManager.default.createFile(atPath: gate, contents: nil)
        let received = desktop.pss(["receive", "h1/twice"])
        XCTAssertEqual(received.status, 5, "\(received)")
        XCTAssertEqual(received.stdoutText, "two\n", "what the laptop had was acknowledged; the rest arrives, once")
    }

    /// Watching a job is not running it: Ctrl-C in receive stops receiving, the job runs on, and its output is
    /// there for the next receive.
    func testCtrlCInReceiveLeavesTheJobRunning() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "watched"]).status, 0)
        let gate = laptop.scratch.file("gate-watched")
        let started = laptop.pss([
            "invoke", "--session", "h1/watched", "--as-job", "--job-name", "migration", "--",
            "echo step1; while [ ! -e \(gate) ]; do sleep 0.1; done; echo step2",
        ])
        XCTAssertEqual(started.status, 0, "\(started)")
        let shown = terminal("receive h1/watched")
        XCTAssertTrue(shown.waitFor("step1"), shown.screen)
        shown.press("C-c")
        XCTAssertTrue(shown.waitFor("[exit 130]"), shown.screen)
        XCTAssertTrue(shown.screen.contains("runs on in session h1/watched"), shown.screen)
        XCTAssertTrue(shown.screen.contains("pss job stop 1 --session h1/watched"), shown.screen)
        let jobs = laptop.pss(["job", "list", "--session", "h1/watched", "--json"]).stdoutText
        XCTAssertTrue(jobs.contains("\"state\":\"Running\""), jobs)

        FileManager.default.createFile(atPath: gate, contents: nil)
        let received = laptop.pss(["receive", "h1/watched"])
        XCTAssertEqual(received.status, 0, "\(received)")
        XCTAssertEqual(received.stdoutText, "step2\n", "what was shown was acknowledged; the rest arrives, once")
    }

    func testSIGTERMAndSIGHUPToTheClientDetach() throws {
        for (number, status) in [(SIGTERM, 143), (SIGHUP, 129)] {
            // A session each: the receive below takes the first to the desktop.
            XCTAssertEqual(laptop.pss(["new", "h1", "--name", "term\(number)"]).status, 0)
            let output = laptop.scratch.file("term-\(number).out")
            let running = try ProcessRunner.start(
                PSSBinary.path,
                [
                    "-F", laptop.configPath, "invoke", "--session", "h1/term\(number)", "--",
                    "echo started; sleep 2; echo finished",
                ],
                environment: laptop.baseEnvironment, stdoutFile: output)
            XCTAssertTrue(Processes.waitUntil(limit: 20) { (try? String(contentsOfFile: output, encoding: .utf8))?.contains("started") ?? false })
            running.signal(number)
            let result = running.wait(limit: 20)
            XCTAssertEqual(result.status, Int32(status), "\(result)")
            XCTAssertTrue(result.stderrText.contains("detached; the command"), "\(result)")
            let received = desktop.pss(["receive", "h1/term\(number)"])
            XCTAssertEqual(received.status, 0, "\(received)")
            XCTAssertEqual(received.stdoutText, "finished\n", "\(received)")
        }
    }
}
