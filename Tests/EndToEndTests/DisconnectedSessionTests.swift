import Foundation
import TestSupport
import XCTest

/// disconnect, connect (--force), receive; Broken sessions after the daemon dies; block and drop buffering.
final class DisconnectedSessionTests: TwoMachinesTestCase {
    /// The session named `name` as `client` sees it with get --json.
    private func session(_ name: String, as client: ClientMachine) -> [String: Any]? {
        let lines = client.pss(["get", "--host", "h1", "--json"]).stdoutText.split(separator: "\n")
        return lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["name"] as? String == name }
    }

    func testDisconnectThenReceiveFromAnotherClientThenTakeItBack() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "work"]).status, 0)
        let gate = laptop.scratch.file("gate")
        let started = laptop.pss([
            "invoke", "--session", "h1/work", "--as-job", "--",
            "echo one; while [ ! -e '\(gate)' ]; do sleep 0.1; done; echo two >&2; exit 3",
        ])
        XCTAssertEqual(started.status, 0, "\(started)")
        let disconnected = laptop.pss(["disconnect", "h1/work", "--idle-timeout", "10m"])
        XCTAssertEqual(disconnected.status, 0, "\(disconnected)")
        XCTAssertTrue(disconnected.stdoutText.contains("Disconnected"), disconnected.stdoutText)
        XCTAssertEqual(session("work", as: desktop)?["state"] as? String, "Disconnected")
        XCTAssertEqual(session("work", as: desktop)?["availability"] as? String, "None")
        XCTAssertEqual(session("work", as: desktop)?["idleTimeoutSeconds"] as? Int, 600)
        // A Disconnected session runs nothing new until it is connected.
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/work", "--", "true"]).status, 254)

        shell("touch '\(gate)'")
        // --keep leaves it unacknowledged: the next receive gets it again.
        let kept = desktop.pss(["receive", "h1/work", "--keep"])
        XCTAssertEqual(kept.status, 3, "\(kept)")
        XCTAssertEqual(kept.stdoutText, "one\n")
        let received = desktop.pss(["receive", "h1/work"])
        XCTAssertEqual(received.status, 3, "\(received)")
        XCTAssertEqual(received.stdoutText, "one\n")
        XCTAssertEqual(received.stderrText, "two\n")
        // receive connected it to the desktop: the laptop now sees it Busy and is refused.
        XCTAssertEqual(session("work", as: desktop)?["availability"] as? String, "Available")
        XCTAssertEqual(session("work", as: laptop)?["availability"] as? String, "Busy")
        let refused = laptop.pss(["invoke", "--session", "h1/work", "--", "true"])
        XCTAssertEqual(refused.status, 254)
        XCTAssertTrue(refused.stderrText.contains("held by another client"), refused.stderrText)
        XCTAssertEqual(laptop.pss(["connect", "h1/work"]).status, 254)
        XCTAssertEqual(laptop.pss(["connect", "h1/work", "--force"]).status, 0)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/work", "--", "echo mine"]).stdoutText, "mine\n")
        // Received once: a second receive has nothing more, and the status again.
        let again = laptop.pss(["receive", "h1/work", "--job", "1"])
        XCTAssertEqual(again.status, 3, "\(again)")
        XCTAssertEqual(again.stdoutText, "")
        XCTAssertEqual(laptop.pss(["remove", "h1/work"]).status, 0)
    }

    func testSessionsOfADeadDaemonAreBrokenAndTheirOutputReceivable() throws {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "doomed"]).status, 0)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/doomed", "--as-job", "--", "echo before; sleep 300"]).status, 0)
        XCTAssertTrue(
            Processes.waitUntil {
                laptop.pss(["job", "receive", "1", "--session", "h1/doomed", "--keep"]).stdoutText == "before\n"
            })
        let daemon = try XCTUnwrap(Processes.daemon(of: Self.server))
        kill(daemon, SIGKILL)
        XCTAssertTrue(Processes.waitUntil { !Processes.isRunning(daemon) })

        XCTAssertEqual(session("doomed", as: laptop)?["state"] as? String, "Broken")
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/doomed", "--", "true"]).status, 254)
        let received = desktop.pss(["receive", "h1/doomed"])
        XCTAssertEqual(received.stdoutText, "before\n")
        XCTAssertEqual(received.status, 254, "\(received)")
        XCTAssertTrue(received.stderrText.contains("how it ended is not known"), received.stderrText)
        let jobs = laptop.pss(["job", "list", "--session", "h1/doomed", "--json"]).stdoutText
        XCTAssertTrue(jobs.contains("\"state\":\"Failed\""), jobs)
        XCTAssertEqual(laptop.pss(["remove", "h1/doomed"]).status, 0)
    }

    func testBlockBufferingPausesTheCommandUntilOutputIsReceived() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "blocky", "--max-buffer", "64K"]).status, 0)
        let marker = laptop.scratch.file("wrote-all")
        XCTAssertEqual(
            laptop.pss([
                "invoke", "--session", "h1/blocky", "--as-job", "--",
                "head -c 3000000 /dev/zero | tr '\\0' x; touch '\(marker)'",
            ]).status, 0)
        // Far less than the 3 MB is taken before the command blocks: the pipes and one read of the daemon.
        let spool = Self.server.sessionsDirectory
        XCTAssertTrue(
            Processes.waitUntil {
                Int(shell("cat \(spool)/*/commands/1/stdout 2>/dev/null | wc -c").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 64 * 1024
            })
        usleep(500_000)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the command was not paused")
        let size = Int(shell("cat \(spool)/*/commands/1/stdout | wc -c").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertLessThanOrEqual(size, 64 * 1024 + 256 * 1024)

        let received = laptop.pss(["receive", "h1/blocky"])
        XCTAssertEqual(received.status, 0, "\(received.stderrText)")
        XCTAssertEqual(received.stdout, Data(repeating: UInt8(ascii: "x"), count: 3_000_000))
        XCTAssertTrue(FileManager.default.fileExists(atPath: marker))
        XCTAssertEqual(laptop.pss(["remove", "h1/blocky"]).status, 0)
    }

    func testDropBufferingKeepsTheNewestOutputAndSaysHowMuchWasDropped() {
        XCTAssertEqual(laptop.pss(["new", "h1", "--name", "droppy", "--output-buffering", "drop", "--max-buffer", "100K"]).status, 0)
        XCTAssertEqual(laptop.pss(["invoke", "--session", "h1/droppy", "--as-job", "--", "seq 1 200000"]).status, 0)
        XCTAssertEqual(laptop.pss(["job", "wait", "1", "--session", "h1/droppy"]).status, 0)
        let received = laptop.pss(["receive", "h1/droppy"])
        XCTAssertEqual(received.status, 0, "\(received)")
        let all = Data((1...200_000).map { "\($0)\n" }.joined().utf8)
        XCTAssertEqual(received.stdout, all.suffix(100 * 1024))
        XCTAssertTrue(received.stderrText.contains("\(all.count - 100 * 1024) bytes of stdout were dropped"), received.stderrText)
        XCTAssertEqual(laptop.pss(["remove", "h1/droppy"]).status, 0)
    }
}
