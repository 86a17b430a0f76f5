import Foundation
import TestSupport
import XCTest

/// The idle timeout closes a session and removes everything of it. It waits out the real minimum (60 s): a
/// shorter clock would test something users cannot set.
final class IdleTimeoutTests: XCTestCase {
    func testIdleSessionIsClosedAndRemoved() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        let created = client.pss(["--json", "new", "h", "--name", "sleepy", "--idle-timeout", "60s"])
        XCTAssertEqual(created.status, 0, "\(created)")
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
    }
}
