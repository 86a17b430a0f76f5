import Foundation
import TestSupport
import XCTest

/// The idle timeout closes a session and removes everything of it, and says so to whoever asks later; a job's
/// output unreceived keeps its session for the job's retention. It waits out the real minimum (60 s): a shorter
/// clock would test something users cannot set.
final class IdleTimeoutTests: XCTestCase {
    func testIdleSessionIsClosedAndRemoved() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        let created = client.pss(["--json", "new", "h", "--name", "sleepy", "--idle-timeout", "60s"])
        XCTAssertEqual(created.status, 0, "\(created)")
        // Cron's jobs in temporary sessions of the same idle timeout: one kept by its retention (the default
        // week), one whose retention is shorter than the idle timeout.
        for (name, retention) in [("nightly", [String]()), ("gone", ["--retention", "1s"])] {
            let started = client.pss(
                ["invoke", "--host", "h", "--as-job", "--job-name", name, "--idle-timeout", "1m"] + retention + ["--", "echo \(name) output"])
            XCTAssertEqual(started.status, 0, "\(started)")
            XCTAssertEqual(client.pss(["job", "wait", name, "--host", "h"]).status, 0)
        }
        let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(created.stdoutText.utf8)) as? [String: Any])?["id"] as? String)
        let shell =
            Int32(
                client.pss(["invoke", "--session", "h/sleepy", "--", "echo $$"]).stdoutText
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertTrue(Processes.isRunning(shell))

        // The clock restarted when that command ended; nothing else touches the session now.
        XCTAssertTrue(Processes.waitUntil(limit: 120) { !Processes.isRunning(shell) }, "the idle session was not closed")
        XCTAssertTrue(
            Processes.waitUntil(limit: 10) {
                !FileManager.default.fileExists(atPath: server.sessionsDirectory + "/\(id)")
            })
        XCTAssertFalse(client.pss(["get", "--host", "h"]).stdoutText.contains(id))
        let late = client.pss(["receive", "h/sleepy"])
        XCTAssertEqual(late.status, 254, "\(late)")
        XCTAssertTrue(late.stderrText.contains("session 'sleepy' was closed at 20"), late.stderrText)
        XCTAssertTrue(late.stderrText.contains("idle for its idle timeout (1m)"), late.stderrText)

        // The job nobody received is there past its session's idle timeout, and found by its name.
        let nightly = client.pss(["job", "receive", "nightly", "--host", "h"])
        XCTAssertEqual(nightly.status, 0, "\(nightly)")
        XCTAssertEqual(nightly.stdoutText, "nightly output\n")
        XCTAssertTrue(
            Processes.waitUntil(limit: 30) { client.pss(["job", "receive", "gone", "--host", "h"]).stderrText.contains("was closed at") })
        let gone = client.pss(["job", "receive", "gone", "--host", "h"])
        XCTAssertEqual(gone.status, 254, "\(gone)")
        XCTAssertTrue(gone.stderrText.contains("no job 'gone' on this host: its session 'temp"), gone.stderrText)
    }
}
