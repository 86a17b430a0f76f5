import Foundation
import TestSupport
import XCTest

/// new, get, remove: the session lifecycle on a real host, seen from two client machines.
final class SessionLifecycleTests: HostFixtureTestCase {
    private func json(_ result: ProcessResult) -> [[String: Any]] {
        result.stdoutText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func testNewGetAndRemove() throws {
        let created = client.pss(["--json", "new", "h1", "--name", "life", "--idle-timeout", "15m"])
        XCTAssertEqual(created.status, 0, "\(created)")
        let record = try XCTUnwrap(json(created).first)
        XCTAssertEqual(record["name"] as? String, "life")
        XCTAssertEqual(record["host"] as? String, "h1")
        XCTAssertEqual(record["state"] as? String, "Opened")
        XCTAssertEqual(record["availability"] as? String, "Available")
        XCTAssertEqual(record["idleTimeoutSeconds"] as? Int, 900)
        XCTAssertEqual(record["outputBuffering"] as? String, "block")
        XCTAssertEqual(record["owner"] as? String, "root")
        XCTAssertNotNil(record["expiresAt"] as? String)
        XCTAssertTrue(record["command"] is NSNull)
        for key in ["configuration", "runAs", "createdAt"] { XCTAssertTrue(record.keys.contains(key), key) }
        let id = try XCTUnwrap(record["id"] as? String)

        let table = client.pss(["get", "--host", "h1"])
        XCTAssertEqual(table.status, 0, "\(table)")
        let header = table.stdoutText.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertEqual(
            header.split(separator: " ").map(String.init), ["Id", "Name", "ComputerName", "State", "ConfigurationName", "Owner", "RunAs", "Availability"])
        XCTAssertTrue(table.stdoutText.contains(id), table.stdoutText)

        // A bare name works once this client knows the session.
        XCTAssertEqual(client.pss(["invoke", "--session", "life", "--", "true"]).status, 0)

        let removed = client.pss(["remove", "h1/\(id)"])
        XCTAssertEqual(removed.status, 0, "\(removed)")
        XCTAssertFalse(client.pss(["get", "--host", "h1"]).stdoutText.contains(id))
        XCTAssertEqual(client.pss(["invoke", "--session", "h1/life", "--", "true"]).status, 254)
    }

    func testGeneratedNamesAndGlob() throws {
        let first = client.pss(["--json", "new", "h1"])
        let second = client.pss(["--json", "new", "h1"])
        let names = (json(first) + json(second)).compactMap { $0["name"] as? String }
        XCTAssertEqual(names.count, 2, "\(first)\(second)")
        XCTAssertEqual(Set(names).count, 2)
        XCTAssertTrue(names.allSatisfy { $0.hasPrefix("session") }, "\(names)")
        let listed = json(client.pss(["--json", "get", "--host", "h1", "--name", "session*"])).compactMap { $0["name"] as? String }
        XCTAssertTrue(Set(names).isSubset(of: Set(listed)), "\(listed)")
        for name in names { XCTAssertEqual(client.pss(["remove", "h1/\(name)"]).status, 0) }
    }

    func testAnotherClientMachineSeesTheSessionAsBusy() throws {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "shared"]).status, 0)
        defer { _ = client.pss(["remove", "h1/shared"]) }
        let other = ClientMachine(servers: ["h1": server])
        let listed = json(other.pss(["--json", "get", "--host", "h1"]))
        let shared = try XCTUnwrap(listed.first { $0["name"] as? String == "shared" }, "\(listed)")
        XCTAssertEqual(shared["availability"] as? String, "Busy", "held by the first client")
        XCTAssertEqual(json(client.pss(["--json", "get", "--host", "h1", "--name", "shared"])).first?["availability"] as? String, "Available")
        let refused = other.pss(["invoke", "--session", "h1/shared", "--", "true"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("held by another client"), refused.stderrText)
    }

    func testRemoveLeavesNoProcessFileOrDaemon() throws {
        XCTAssertEqual(client.pss(["remove", "--host", "h1", "--all"]).status, 0)
        let created = json(client.pss(["--json", "new", "h1", "--name", "doomed"]))
        let id = try XCTUnwrap(created.first?["id"] as? String)
        let pids = client.pss(["invoke", "--session", "h1/doomed", "--", "sleep 300 & echo $$ $!"]).stdoutText
            .split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(pids.count, 2, "shell and background child")
        XCTAssertTrue(pids.allSatisfy(Processes.isRunning))
        XCTAssertTrue(FileManager.default.fileExists(atPath: server.sessionsDirectory + "/\(id)"))
        XCTAssertFalse(Processes.running(under: server.hostDirectory + "/bin").isEmpty, "the daemon runs")

        XCTAssertEqual(client.pss(["remove", "h1/doomed"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { !pids.contains(where: Processes.isRunning) }, "a process of the session survived")
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.sessionsDirectory + "/\(id)"))
        XCTAssertTrue(
            Processes.waitUntil { Processes.running(under: self.server.hostDirectory + "/bin").isEmpty },
            "the daemon holds no session and should have exited")
        XCTAssertTrue(Processes.waitUntil { !FileManager.default.fileExists(atPath: self.server.hostDirectory + "/run/daemon-v1.sock") })
    }

    func testTemporarySessionLeavesNothing() {
        XCTAssertEqual(client.pss(["remove", "--host", "h1", "--all"]).status, 0)
        let result = client.pss(["invoke", "--host", "h1", "--", "echo $$"])
        XCTAssertEqual(result.status, 0, "\(result)")
        let pid = Int32(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertTrue(Processes.waitUntil { !Processes.isRunning(pid) })
        // The daemon answers first and cleans up after, so the client is not kept waiting: await the cleanup.
        XCTAssertTrue(
            Processes.waitUntil {
                ((try? FileManager.default.contentsOfDirectory(atPath: self.server.sessionsDirectory)) ?? []).isEmpty
            }, "the temporary session's files remain")
    }

    func testDuplicateNameIsRefused() {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "twice"]).status, 0)
        defer { _ = client.pss(["remove", "h1/twice"]) }
        let again = client.pss(["new", "h1", "--name", "twice"])
        XCTAssertEqual(again.status, 254, "\(again)")
        XCTAssertTrue(again.stderrText.contains("already exists"), again.stderrText)
    }

    func testUnknownSessionIs254() {
        for arguments in [["invoke", "--session", "h1/nosuch", "--", "true"], ["remove", "h1/nosuch"], ["invoke", "--session", "nosuch", "--", "true"]] {
            let result = client.pss(arguments)
            XCTAssertEqual(result.status, 254, "\(arguments): \(result)")
        }
    }

    func testHostileNamesAreUsageErrorsAndTouchNothing() {
        let before = (try? FileManager.default.contentsOfDirectory(atPath: server.sessionsDirectory)) ?? []
        let hostile = ["../x", "/", "a/b", "-x", "tab\tname", "esc\u{1b}[31m", String(repeating: "n", count: 1000), ""]
        for name in hostile {
            let result = client.pss(["new", "h1", "--name", name])
            XCTAssertEqual(result.status, 64, "\(name.debugDescription): \(result)")
            XCTAssertFalse(result.stderrText.contains("\u{1b}"), "control characters echoed back")
        }
        for reference in ["h1/../x", "h1/", "h1/a b", "../../etc/passwd"] {
            XCTAssertEqual(client.pss(["invoke", "--session", reference, "--", "true"]).status, 64, reference)
            XCTAssertEqual(client.pss(["remove", reference]).status, 64, reference)
        }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: server.sessionsDirectory)) ?? [], before)
    }

    func testBadOptionsAreUsageErrors() {
        for arguments in [
            ["new", "h1", "--idle-timeout", "30s"], ["new", "h1", "--idle-timeout", "soon"],
            ["new", "h1", "--output-buffering", "maybe"], ["new", "h1", "--max-buffer", "lots"],
            ["new"], ["remove"], ["remove", "--all"], ["invoke", "--throttle", "0", "--host", "h1", "--", "true"],
            ["invoke", "--host", "h1", "--host", "h[2-1]", "--", "true"], ["get", "--hosts-file", "/nonexistent"],
        ] {
            XCTAssertEqual(client.pss(arguments).status, 64, "\(arguments)")
        }
    }
}
