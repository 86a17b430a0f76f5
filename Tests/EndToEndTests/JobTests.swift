import Foundation
import TestSupport
import XCTest

/// Jobs through their whole life (start, list, wait, receive, stop, remove), and cron's use of them: a job in a
/// session of its own, --lock, --timeout.
final class JobTests: HostFixtureTestCase {
    private func jobs(_ target: [String]) -> [[String: Any]] {
        client.pss(["job", "list"] + target + ["--json"]).stdoutText.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testJobLifecycle() {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "jobs"]).status, 0)
        let gate = client.scratch.file("build-gate")
        let started = client.pss([
            "invoke", "--session", "h1/jobs", "--as-job", "--job-name", "build", "--",
            "echo building; while [ ! -e '\(gate)' ]; do sleep 0.1; done; echo done; echo warn >&2; exit 4",
        ])
        XCTAssertEqual(started.status, 0, "\(started)")
        XCTAssertTrue(started.stdoutText.contains("build"), started.stdoutText)
        XCTAssertTrue(started.stdoutText.contains("Running"), started.stdoutText)
        // One command at a time: a second job on the busy session is refused at once.
        let second = client.pss(["invoke", "--session", "h1/jobs", "--as-job", "--", "true"])
        XCTAssertEqual(second.status, 254, "\(second)")
        XCTAssertTrue(second.stderrText.contains("busy"), second.stderrText)

        XCTAssertEqual(jobs(["--session", "h1/jobs"]).first?["state"] as? String, "Running")
        // Receiving a running job gives what there is so far, and says it still runs (253, not the lock's 75).
        XCTAssertTrue(
            Processes.waitUntil {
                client.pss(["job", "receive", "build", "--session", "h1/jobs", "--keep"]).stdoutText == "building\n"
            })
        let partial = client.pss(["job", "receive", "build", "--session", "h1/jobs"])
        XCTAssertEqual(partial.status, 253, "\(partial)")
        XCTAssertEqual(partial.stdoutText, "building\n")

        shell("touch '\(gate)'")
        let waited = client.pss(["job", "wait", "build", "--session", "h1/jobs"])
        XCTAssertEqual(waited.status, 4, "\(waited)")
        XCTAssertEqual(waited.stdoutText, "")
        let listed = jobs(["--session", "h1/jobs"]).first
        XCTAssertEqual(listed?["state"] as? String, "Failed")
        XCTAssertEqual(listed?["exitCode"] as? Int, 4)
        XCTAssertEqual(listed?["hasMoreData"] as? Bool, true)
        XCTAssertNotNil(listed?["endedAt"] as? String)

        // The rest of the output, once: "building" was received already.
        let rest = client.pss(["job", "receive", "build", "--session", "h1/jobs"])
        XCTAssertEqual(rest.status, 4, "\(rest)")
        XCTAssertEqual(rest.stdoutText, "done\n")
        XCTAssertEqual(rest.stderrText, "warn\n")
        XCTAssertEqual(jobs(["--session", "h1/jobs"]).first?["hasMoreData"] as? Bool, false)
        XCTAssertEqual(client.pss(["job", "receive", "build", "--session", "h1/jobs"]).stdoutText, "")

        // Kept until removed.
        XCTAssertEqual(client.pss(["job", "remove", "build", "--session", "h1/jobs"]).status, 0)
        XCTAssertTrue(jobs(["--session", "h1/jobs"]).isEmpty)
        XCTAssertEqual(client.pss(["job", "receive", "build", "--session", "h1/jobs"]).status, 254)
        XCTAssertEqual(client.pss(["remove", "h1/jobs"]).status, 0)
    }

    func testStopEndsTheWholeProcessGroup() {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "stoppable"]).status, 0)
        // A pipeline and a background child; TERM is ignored by one of them, so KILL has to follow.
        XCTAssertEqual(
            client.pss([
                "invoke", "--session", "h1/stoppable", "--as-job", "--",
                "sleep 1001 & trap '' TERM; sleep 1002 | cat; wait",
            ]).status, 0)
        XCTAssertTrue(Processes.waitUntil { shell("pgrep -f 'sleep 100[12]' | wc -l").stdoutText == "2\n" })
        XCTAssertEqual(jobs(["--session", "h1/stoppable"]).first?["state"] as? String, "Running")
        let removeRunning = client.pss(["job", "remove", "1", "--session", "h1/stoppable"])
        XCTAssertEqual(removeRunning.status, 254)
        XCTAssertTrue(removeRunning.stderrText.contains("stop it first"), removeRunning.stderrText)

        let stopped = client.pss(["job", "stop", "1", "--session", "h1/stoppable"])
        XCTAssertEqual(stopped.status, 0, "\(stopped)")
        XCTAssertTrue(stopped.stdoutText.contains("Stopped"), stopped.stdoutText)
        XCTAssertEqual(shell("pgrep -f 'sleep 100[12]' | wc -l").stdoutText, "0\n")
        // The session goes on.
        XCTAssertEqual(client.pss(["invoke", "--session", "h1/stoppable", "--", "echo alive"]).stdoutText, "alive\n")
        XCTAssertEqual(client.pss(["remove", "h1/stoppable"]).status, 0)
    }

    func testCronJobInASessionOfItsOwnWithLockAndTimeout() {
        let other = ClientMachine(servers: ["h1": server])
        let gate = client.scratch.file("nightly-gate")
        let started = client.pss([
            "invoke", "--host", "h1", "--as-job", "--job-name", "nightly", "--lock", "backup", "--json", "--",
            "echo backing up; while [ ! -e '\(gate)' ]; do sleep 0.1; done; echo finished",
        ])
        XCTAssertEqual(started.status, 0, "\(started)")
        XCTAssertTrue(started.stdoutText.contains("\"name\":\"nightly\""), started.stdoutText)

        // The lock is held while it runs: the next run is refused with 75, in any session of this user.
        let locked = client.pss(["invoke", "--host", "h1", "--as-job", "--lock", "backup", "--", "echo never"])
        XCTAssertEqual(locked.status, 75, "\(locked)")
        XCTAssertTrue(locked.stderrText.contains("lock 'backup'"), locked.stderrText)

        // Collected later from another machine: the job's session is held by nobody.
        let listed = other.pss(["job", "list", "--host", "h1", "--json"]).stdoutText
        let job = listed.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["name"] as? String == "nightly" }
        XCTAssertEqual(job?["state"] as? String, "Running", listed)
        shell("touch '\(gate)'")
        let sessionID = job?["session"] as? String ?? "?"
        let received = other.pss(["job", "wait", "nightly", "--session", "h1/\(sessionID)"])
        XCTAssertEqual(received.status, 0, "\(received)")
        let output = other.pss(["job", "receive", "nightly", "--session", "h1/\(sessionID)"])
        XCTAssertEqual(output.status, 0, "\(output)")
        XCTAssertEqual(output.stdoutText, "backing up\nfinished\n")
        // The lock is free again.
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--lock", "backup", "--", "echo again"]).stdoutText, "again\n")

        // --timeout is enforced on the host: the process group is killed, exit 124.
        let timedOut = client.pss(["invoke", "--host", "h1", "--timeout", "1s", "--", "echo begun; sleep 1003; echo never"])
        XCTAssertEqual(timedOut.status, 124, "\(timedOut)")
        XCTAssertEqual(timedOut.stdoutText, "begun\n")
        XCTAssertEqual(shell("pgrep -f 'sleep 100[3]' | wc -l").stdoutText, "0\n")
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--as-job", "--job-name", "slow", "--timeout", "1", "--", "sleep 1004"]).status, 0)
        let slow = client.pss(["job", "list", "--host", "h1", "--json"]).stdoutText.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["name"] as? String == "slow" }
        XCTAssertEqual(client.pss(["job", "wait", "slow", "--session", "h1/\(slow?["session"] as? String ?? "?")"]).status, 124)
    }

    /// cron's `pss invoke --host H --as-job --job-name nightly` makes a session with a new name each night: the job
    /// is found by its name on the host, the newest of that name; it is kept a week (or --retention) unreceived.
    func testACronJobIsCollectedByItsNameOnTheHost() throws {
        let other = ClientMachine(servers: ["h1": server])
        for night in ["monday", "tuesday"] {
            let started = client.pss(["invoke", "--host", "h1", "--as-job", "--job-name", "cronbackup", "--", "echo \(night)"])
            XCTAssertEqual(started.status, 0, "\(started)")
        }
        XCTAssertEqual(other.pss(["job", "wait", "cronbackup", "--host", "h1"]).status, 0)
        let listed = jobs(["--host", "h1"]).filter { $0["name"] as? String == "cronbackup" }
        XCTAssertEqual(listed.count, 2, "\(listed)")
        // Kept only to be collected: the sessions' shells and terminals are gone, nothing of them runs.
        for id in listed.compactMap({ $0["session"] as? String }) {
            XCTAssertTrue(Processes.waitUntil(limit: 10) { Self.processes(ofSession: id).isEmpty }, "session \(id) still runs a process")
        }
        let keptUntil = try XCTUnwrap(listed.first?["keptUntil"] as? String, "an unreceived job says how long it is kept: \(listed)")
        let formatter = ISO8601DateFormatter()
        let until = try XCTUnwrap(formatter.date(from: keptUntil))
        XCTAssertEqual(until.timeIntervalSinceNow, 7 * 86400, accuracy: 120, "kept a week by default")

        let newest = other.pss(["job", "receive", "cronbackup", "--host", "h1"])
        XCTAssertEqual(newest.status, 0, "\(newest)")
        XCTAssertEqual(newest.stdoutText, "tuesday\n", "the newest of that name")
        let received = jobs(["--host", "h1"]).filter { $0["name"] as? String == "cronbackup" }
        XCTAssertEqual(received.filter { $0["keptUntil"] is NSNull }.count, 1, "a received job is kept by its session's idle timeout only: \(received)")
        XCTAssertEqual(other.pss(["job", "remove", "cronbackup", "--host", "h1"]).status, 0)
        XCTAssertEqual(other.pss(["job", "receive", "cronbackup", "--host", "h1"]).stdoutText, "monday\n")

        let unknown = other.pss(["job", "receive", "nosuchjob", "--host", "h1"])
        XCTAssertEqual(unknown.status, 254, "\(unknown)")
        XCTAssertTrue(unknown.stderrText.contains("no job 'nosuchjob' on this host"), unknown.stderrText)
        XCTAssertEqual(client.pss(["job", "receive", "3", "--host", "h1"]).status, 64, "an id is a session's own")
        XCTAssertEqual(client.pss(["job", "receive", "x", "--host", "h1", "--session", "h1/s"]).status, 64)
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--retention", "1d", "--", "true"]).status, 64, "--retention goes with --as-job")
        XCTAssertEqual(client.pss(["invoke", "--session", "h1/x", "--idle-timeout", "1h", "--", "true"]).status, 64)
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--idle-timeout", "30s", "--", "true"]).status, 64)
    }

    /// Processes whose environment names session `id` (its shell and what it started).
    static func processes(ofSession id: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
            guard Int(entry) != nil, let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { return false }
            return environment.split(separator: 0).contains { $0.elementsEqual("PSS_SESSION_ID=\(id)".utf8) }
        }
    }

    func testBadJobOptionsAreUsageErrors() {
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--job-name", "x", "--", "true"]).status, 64)
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--as-job", "--job-name", "../x", "--", "true"]).status, 64)
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--lock", "a b", "--", "true"]).status, 64)
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--timeout", "soon", "--", "true"]).status, 64)
        XCTAssertEqual(client.pss(["job", "list"]).status, 64)
        XCTAssertEqual(client.pss(["job", "receive", "1"]).status, 64)
        XCTAssertEqual(client.pss(["disconnect", "h1/x", "--output-buffering", "maybe"]).status, 64)
        XCTAssertEqual(client.pss(["receive", "h1/no-such-session"]).status, 254)
    }

    /// Every duration form reaches the host as the seconds it means (the session's idle timeout shows them), and a
    /// form that does not parse is a usage error listing the forms.
    func testEveryDurationForm() throws {
        for (written, seconds) in [
            ("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604_800), ("1h30m", 5400), ("2m30s", 150),
            ("1d12h", 129_600), ("60500ms", 61), ("1m0s", 60),
        ] {
            let made = client.pss(["--json", "new", "h1", "--name", "dur", "--idle-timeout", written])
            XCTAssertEqual(made.status, 0, "\(written): \(made)")
            let record = try XCTUnwrap(JSONSerialization.jsonObject(with: made.stdout) as? [String: Any], "\(written): \(made)")
            XCTAssertEqual(record["idleTimeoutSeconds"] as? Int, seconds, written)
            XCTAssertEqual(client.pss(["remove", "h1/dur"]).status, 0)
        }
        for bad in ["1h30x", "ms", "", "1.5h", "h1", "99999999999d"] {
            let refused = client.pss(["invoke", "--host", "h1", "--timeout", bad, "--", "true"], limit: 10)
            XCTAssertEqual(refused.status, 64, "\(bad): \(refused)")
            XCTAssertTrue(refused.stderrText.contains("1h30m, 2m30s, 500ms"), "\(bad): the forms are listed: \(refused.stderrText)")
        }
        // 500ms rounds up to a second: a --timeout of it still ends a command that runs on.
        let quick = client.pss(["invoke", "--host", "h1", "--timeout", "500ms", "--", "sleep 30"], limit: 20)
        XCTAssertEqual(quick.status, 124, "\(quick)")
    }
}
