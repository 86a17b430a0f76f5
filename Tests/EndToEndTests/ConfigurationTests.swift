import Foundation
import TestSupport
import XCTest

/// `pss config register`, `list` and `unregister` against a real host, logged in as root, writing the real system
/// paths (/etc/pss/configurations, /usr/local/lib/pss, /etc/sudoers.d): each test uses names of its own and
/// leaves nothing behind.
final class ConfigurationTests: HostFixtureTestCase {
    private let configurations = "/etc/pss/configurations"
    private let helper = "/usr/local/lib/pss/pss-host"

    private func write(_ text: String) -> String {
        let path = client.scratch.file("configuration-\(UUID().uuidString).json")
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func register(_ name: String, _ text: String) -> ProcessResult {
        addTeardownBlock { _ = self.client.pss(["config", "unregister", "--host", "h1", name]) }
        return client.pss(["config", "register", "--host", "h1", name, "--file", write(text)])
    }

    private func mode(_ path: String) -> (mode: Int, uid: Int)? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return ((attributes[.posixPermissions] as? Int) ?? -1, (attributes[.ownerAccountID] as? Int) ?? -1)
    }

    private func listed(_ json: Bool = true) -> [[String: Any]] {
        client.pss(["--json", "config", "list", "--host", "h1"]).stdoutText.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    func testRegisterListUnregisterLeavesNothing() {
        let registered = register("pss-test-plain", #"{"idleTimeoutSeconds": 900, "environment": {"LANG": "C.UTF-8"}}"#)
        XCTAssertEqual(registered.status, 0, "\(registered)")
        XCTAssertTrue(registered.stdoutText.contains("wrote \(configurations)/pss-test-plain.json"), registered.stdoutText)
        XCTAssertEqual(mode("\(configurations)/pss-test-plain.json")?.mode, 0o644)
        XCTAssertEqual(mode("\(configurations)/pss-test-plain.json")?.uid, 0)
        XCTAssertEqual(mode(helper)?.mode, 0o755, "the helper installed system-wide")
        XCTAssertEqual(mode(helper)?.uid, 0)
        XCTAssertEqual(mode("/usr/local/lib/pss")?.mode, 0o755)

        let entry = listed().first { $0["name"] as? String == "pss-test-plain" }
        XCTAssertEqual(entry?["idleTimeoutSeconds"] as? Int, 900)
        XCTAssertTrue(entry?["problem"] is NSNull, "\(String(describing: entry))")
        let table = client.pss(["config", "list", "--host", "h1"])
        XCTAssertTrue(table.stdoutText.contains("pss-test-plain"), table.stdoutText)
        XCTAssertTrue(table.stdoutText.contains("everyone"), table.stdoutText)

        let removed = client.pss(["config", "unregister", "--host", "h1", "pss-test-plain"])
        XCTAssertEqual(removed.status, 0, "\(removed)")
        XCTAssertNil(mode("\(configurations)/pss-test-plain.json"))
        XCTAssertFalse(listed().contains { $0["name"] as? String == "pss-test-plain" })
        let again = client.pss(["config", "unregister", "--host", "h1", "pss-test-plain"])
        XCTAssertEqual(again.status, 254, "\(again)")
        XCTAssertTrue(again.stderrText.contains("no configuration pss-test-plain"), again.stderrText)
    }

    func testRunAsWritesASudoersDropInThatSudoAccepts() throws {
        let runAs = "pss-test-runas", allowed = "pss-test-allowed", member = "pss-test-member", group = "pss-test-grp"
        for user in [runAs, allowed, member] {
            LocalAccount.ensure(user, password: "unused-\(user)")
            addTeardownBlock { LocalAccount.remove(user) }
        }
        shell("getent group \(group) >/dev/null || groupadd \(group); usermod -aG \(group) \(member)")
        addTeardownBlock { _ = ProcessRunner.run("/usr/sbin/groupdel", [group]) }
        let registered = register(
            "pss-test.ops", #"{"runAs": "\#(runAs)", "allowUsers": ["\#(allowed)"], "allowGroups": ["\#(group)"], "allowedCommands": ["uptime"]}"#)
        XCTAssertEqual(registered.status, 0, "\(registered)")
        let dropIn = "/etc/sudoers.d/pss-pss-test_dops"
        XCTAssertEqual(mode(dropIn)?.mode, 0o440)
        let text = try String(contentsOfFile: dropIn, encoding: .utf8)
        XCTAssertTrue(text.contains("\"\(allowed)\", \"%\(group)\" ALL = (\"\(runAs)\") NOPASSWD: \(helper) runas pss-test.ops"), text)
        XCTAssertEqual(ProcessRunner.run("/usr/sbin/visudo", ["-c", "-q"]).status, 0, "the whole sudoers still parses")
        // sudo itself: the allowed user and the group's member may run exactly that, as the runAs user, without a
        // password; nobody else.
        for user in [allowed, member] {
            let list = ProcessRunner.run("/usr/bin/sudo", ["-n", "-l", "-U", user]).stdoutText
            XCTAssertTrue(list.contains("(\(runAs)) NOPASSWD: \(helper) runas pss-test.ops"), "\(user): \(list)")
        }
        XCTAssertFalse(ProcessRunner.run("/usr/bin/sudo", ["-n", "-l", "-U", runAs]).stdoutText.contains(helper))

        XCTAssertEqual(client.pss(["config", "unregister", "--host", "h1", "pss-test.ops"]).status, 0)
        XCTAssertNil(mode(dropIn), "the drop-in goes with the configuration")
        XCTAssertFalse(ProcessRunner.run("/usr/bin/sudo", ["-n", "-l", "-U", allowed]).stdoutText.contains(helper))
    }

    func testBadConfigurationsAreRefusedWithTheirReasons() {
        let cases: [(String, String)] = [
            (#"{"runas": "root"}"#, "unknown field \"runas\""),
            (#"{"runAs": "pss-test-nobody-at-all"}"#, "no user \"pss-test-nobody-at-all\""),
            (#"{"allowGroups": ["pss-test-no-group"]}"#, "no group \"pss-test-no-group\""),
            (#"{"runAs": "root", "allowUsers": ["root"]}"#, "root shell"),
            (#"{"runAs": "root", "allowUsers": ["ALL"], "allowedCommands": ["uptime"]}"#, "not a plain account name"),
            (#"{"idleTimeoutSeconds": 1.5}"#, "whole numbers"),
            (#"{"environment": {"LD_PRELOAD": "/tmp/evil.so"}}"#, "may not be set"),
            (#"{"allowedCommands": ["uptime; sh"]}"#, "allowedCommands"),
            (#"not json"#, "not valid JSON"),
        ]
        for (text, reason) in cases {
            let result = register("pss-test-bad", text)
            XCTAssertEqual(result.status, 254, "\(text): \(result)")
            XCTAssertTrue(result.stderrText.contains(reason), "\(text): \(result.stderrText)")
            XCTAssertNil(mode("\(configurations)/pss-test-bad.json"), "nothing written for \(text)")
        }
        // Hostile names never reach the host.
        for name in ["../../etc/passwd", "a/b", ".hidden", "-rf", "", "x\ny", String(repeating: "n", count: 65)] {
            let result = client.pss(["config", "register", "--host", "h1", "--file", write(#"{"idleTimeoutSeconds": 600}"#), "--", name])
            XCTAssertEqual(result.status, 64, "\(name.debugDescription): \(result)")
            XCTAssertTrue(result.stderrText.contains("configuration name"), result.stderrText)
        }
    }

    func testHandWrittenFilesAreReadTheSameWay() throws {
        let good = "\(configurations)/pss-test-hand.json", loose = "\(configurations)/pss-test-loose.json"
        let broken = "\(configurations)/pss-test-broken.json"
        XCTAssertEqual(register("pss-test-anchor", #"{"idleTimeoutSeconds": 600}"#).status, 0)  // makes the directory
        addTeardownBlock { for path in [good, loose, broken] { unlink(path) } }
        try #"{"allowedCommands": ["uptime"]}"#.write(toFile: good, atomically: true, encoding: .utf8)
        try #"{"idleTimeoutSeconds": 600}"#.write(toFile: loose, atomically: true, encoding: .utf8)
        chmod(loose, 0o666)
        try #"{"maxSessionsPerUser": 0, "colour": "blue"}"#.write(toFile: broken, atomically: true, encoding: .utf8)
        let entries = Dictionary(uniqueKeysWithValues: listed().compactMap { entry in (entry["name"] as? String).map { ($0, entry) } })
        XCTAssertTrue(entries["pss-test-hand"]?["problem"] is NSNull)
        XCTAssertEqual(entries["pss-test-hand"]?["allowedCommands"] as? [String], ["uptime"])
        XCTAssertTrue((entries["pss-test-loose"]?["problem"] as? String ?? "").contains("writable by nobody else"), "\(entries)")
        let problem = entries["pss-test-broken"]?["problem"] as? String ?? ""
        XCTAssertTrue(problem.contains("maxSessionsPerUser") && problem.contains("unknown field \"colour\""), problem)
    }

    func testOnlyRootRegisters() {
        let user = "pss-test-notroot"
        LocalAccount.ensure(user, password: "notroot-password")
        addTeardownBlock { LocalAccount.remove(user) }
        let other = ClientMachine(loggingInAs: user, to: server, alias: "h1")
        let path = other.scratch.file("c.json")
        try! #"{"idleTimeoutSeconds": 600}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let result = other.pss(["config", "register", "--host", "h1", "pss-test-mine", "--file", path])
        XCTAssertEqual(result.status, 254, "\(result)")
        XCTAssertTrue(result.stderrText.contains("needs root"), result.stderrText)
        XCTAssertNil(mode("\(configurations)/pss-test-mine.json"))
        // Listing is for everyone.
        XCTAssertEqual(other.pss(["config", "list", "--host", "h1"]).status, 0)
    }
}
