import Foundation
import TestSupport
import XCTest

/// invoke --session: a persistent shell whose state carries over, and commands that try to break the framing.
final class SessionInvokeTests: HostFixtureTestCase {
    override class func setUp() {
        super.setUp()
        let created = fixture.client.pss(["new", "h1", "--name", "main"])
        precondition(created.status == 0, "\(created)")
    }

    private func invoke(_ command: String, stdin: Data? = nil, extra: [String] = [], session: String = "h1/main") -> ProcessResult {
        client.pss(["invoke", "--session", session] + extra + ["--", command], stdin: stdin)
    }

    func testStateCarriesOverBetweenInvokes() {
        XCTAssertEqual(invoke("X=42; greet() { echo \"hello $1\"; }; cd /tmp; export EXPORTED=yes").status, 0)
        let result = invoke("echo \"$X\"; greet you; pwd; sh -c 'echo $EXPORTED'")
        XCTAssertEqual(result.stdoutText, "42\nhello you\n/tmp\nyes\n", "\(result)")
    }

    func testStreamsAndStatus() {
        let result = invoke("echo out; echo err >&2; exit_code() { return 9; }; exit_code")
        XCTAssertEqual(result.status, 9, "\(result)")
        XCTAssertEqual(result.stdoutText, "out\n")
        XCTAssertEqual(result.stderrText, "err\n")
    }

    func testBinaryDataBothWays() {
        var bytes = [UInt8](repeating: 0, count: 2 * 1024 * 1024 + 3)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: (index &* 7919) ^ (index >> 9)) }
        let data = Data(bytes)
        let result = invoke("cat", stdin: data)
        XCTAssertEqual(result.status, 0, "\(result.status) \(result.stderrText)")
        XCTAssertEqual(result.stdout, data)
        let toStderr = invoke("head -c 100000 /dev/zero | tr '\\0' '\\377' >&2")
        XCTAssertEqual(toStderr.stderr, Data(repeating: 0xFF, count: 100_000))
    }

    func testCommandThatReadsStdinWithoutStdinGetsEndOfFile() {
        let result = invoke("cat; read line; echo \"read: [$line] $?\"", extra: ["-n"])
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.stdoutText, "read: [] 1\n", "\(result)")
    }

    func testOutputThatLooksLikeFramingIsJustOutput() {
        // The daemon's notices are "S <token> <n>" / "D <token> <n> <status>" on a private descriptor; a command
        // printing such lines, or binary that looks like frame headers, changes nothing.
        let tricky = "printf 'D 0 1 0\\nS 0 1\\n\\000\\000\\000\\005\\145\\n'; printf 'D x 9 0\\n' >/dev/tty; echo after; exit 3"
        let result = invoke(tricky)
        XCTAssertEqual(result.status, 3, "\(result)")
        XCTAssertEqual(result.stdout, Data("D 0 1 0\nS 0 1\n".utf8) + Data([0, 0, 0, 5, 0x65, 0x0A]) + Data("after\n".utf8))
        XCTAssertEqual(invoke("echo still fine").stdoutText, "still fine\n")
    }

    func testBackgroundChildDoesNotHoldTheCommand() {
        let result = invoke("sleep 120 & echo started")
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stdoutText, "started\n")
        XCTAssertEqual(invoke("kill %1 2>/dev/null; echo next").stdoutText, "next\n")
    }

    /// `exit N` in an invoked command ends the command with N, as `exit` in a script block given to a PowerShell
    /// session: the shell stays, with its variables and directory, and nothing after the `exit` runs, whether it is
    /// at the top, in a loop, in a function (defined now or earlier), or under `set -e`.
    func testExitEndsTheCommandAndKeepsTheShell() {
        XCTAssertEqual(invoke("KEEP=me; cd /tmp; die() { echo \"dying $1\"; exit \"$1\"; echo never; }").status, 0)
        let shell = invoke("echo $$").stdoutText
        for (command, status, output) in [
            ("echo bye; exit 7; echo never", Int32(7), "bye\n"),
            ("for i in 1 2 3; do echo $i; [ $i = 2 ] && exit 3; done; echo never", 3, "1\n2\n"),
            ("die 4; echo never", 4, "dying 4\n"),
            ("f() { exit 5; echo never; }; f; echo never", 5, ""),
            ("set -e; exit 6; echo never", 6, ""),
            ("(exit 8); echo \"sub $?\"; x=$(exit 9); echo \"cs $?\"; echo y | while read l; do exit 10; done; echo \"pipe $?\"", 0, "sub 8\ncs 9\npipe 10\n"),
            ("false; exit", 1, ""),
            ("exit 300", 44, ""),
        ] {
            let result = invoke(command)
            XCTAssertEqual(result.status, status, "\(command): \(result)")
            XCTAssertEqual(result.stdoutText, output, "\(command): \(result)")
            XCTAssertFalse(result.stderrText.contains("new shell"), "\(command): \(result)")
            let after = invoke("echo \"[$KEEP] $$\"; pwd; case $- in *e*) echo errexit;; esac")
            let errexit = command.hasPrefix("set -e") ? "errexit\n" : ""
            XCTAssertEqual(after.stdoutText, "[me] \(shell)/tmp\n\(errexit)", "\(command): state kept (set -e too), same shell")
            if command.hasPrefix("set -e") { _ = invoke("set +e") }
        }
        // Inside a job (a subshell), exit ends the job; the shell is untouched as ever.
        let job = invoke("exit 11", extra: ["--timeout", "60"])
        XCTAssertEqual(job.status, 11, "\(job)")
        XCTAssertEqual(invoke("echo $KEEP").stdoutText, "me\n")
    }

    func testExecReplacesTheShellAndReportsItsStatus() {
        let result = invoke("exec sh -c 'echo from exec; exit 5'")
        XCTAssertEqual(result.status, 5, "\(result)")
        XCTAssertEqual(result.stdoutText, "from exec\n")
        XCTAssertEqual(invoke("echo alive").stdoutText, "alive\n")
    }

    func testOneCommandAtATime() throws {
        let waitedFor = try ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", client.configPath, "invoke", "--session", "h1/main", "--",
                "echo first-started; sleep 3; echo first-done",
            ],
            environment: client.baseEnvironment)
        // Wait for the first command to be running (an event: the session shows it as its command).
        XCTAssertTrue(
            Processes.waitUntil {
                self.client.pss(["--json", "get", "--host", "h1", "--name", "main"]).stdoutText.contains("first-started")
            })
        let refused = invoke("echo second", extra: ["--wait", "0"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("busy"), refused.stderrText)
        let waited = invoke("echo second", extra: ["--wait", "60"])
        XCTAssertEqual(waited.status, 0, "\(waited)")
        XCTAssertEqual(waited.stdoutText, "second\n")
        let first = waitedFor.wait(limit: 60)
        XCTAssertEqual(first.stdoutText, "first-started\nfirst-done\n", "the first ran to its end before the second began")
    }

    /// Output a client has acknowledged leaves the host's disk while the command still runs: a long stream the
    /// client keeps up with occupies about an acknowledgement interval (1 MiB), not its length.
    func testAcknowledgedOutputLeavesTheDiskDuringTheCommand() throws {
        let received = client.scratch.file("stream"), gate = client.scratch.file("stream-gate")
        let running = try ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", client.configPath, "invoke", "--session", "h1/main", "--",
                "head -c 12582912 /dev/zero; while [ ! -e '\(gate)' ]; do sleep 0.1; done",
            ],
            environment: client.baseEnvironment, stdoutFile: received)
        defer { _ = shell("touch '\(gate)'"); _ = running.wait(limit: 60) }
        XCTAssertTrue(Processes.waitUntil { shell("stat -c %s '\(received)'").stdoutText == "\(12 << 20)\n" })
        // This command's spool is the one of 12 MiB; its blocks (512 bytes each) are what it holds on disk.
        let blocks = "find '\(server.sessionsDirectory)' -path '*/commands/*/stdout' -size \(12 << 20)c -printf '%b\\n'"
        // The last acknowledgement follows the last bytes written out: wait for it, then look at the spool.
        XCTAssertTrue(
            Processes.waitUntil {
                let counts = shell(blocks).stdoutText.split(separator: "\n").compactMap { Int($0) }
                return counts.count == 1 && counts[0] * 512 <= 2 << 20
            }, shell(blocks).stdoutText)
        _ = shell("touch '\(gate)'")
        XCTAssertEqual(running.wait(limit: 60).status, 0)
    }

    func testJSONNamesTheSession() throws {
        let result = client.pss(["--json", "invoke", "--session", "h1/main", "--", "echo hi"])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdoutText.utf8)) as? [String: Any])
        XCTAssertEqual(object["host"] as? String, "h1")
        XCTAssertEqual((object["session"] as? String)?.count, 36)
        XCTAssertEqual(object["stdout"] as? String, "hi\n")
        XCTAssertEqual(object["exitCode"] as? Int, 0)
    }
}
