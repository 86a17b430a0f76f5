import Foundation
import TestSupport
import XCTest

/// `pss doctor` against hosts healthy and not: one check a line, ok, warn or fail with the fix, exit 0 unless one
/// fails.
final class DoctorTests: XCTestCase {
    private func checks(_ client: ClientMachine, _ host: String) -> (status: Int32, checks: [String: [String: Any]], text: String) {
        let json = client.pss(["--json", "doctor", host])
        var checks: [String: [String: Any]] = [:]
        for line in json.stdoutText.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let name = object["check"] as? String
            else { continue }
            checks[name] = object
        }
        return (json.status, checks, json.stdoutText)
    }

    private func status(_ checks: [String: [String: Any]], _ name: String) -> String? { checks[name]?["status"] as? String }

    func testHealthyHostBeforeAndAfterTheHelper() {
        var options = SSHServer.Options()
        options.extraConfig = ["ClientAliveInterval 20"]
        let server = SSHServer(options)
        let client = ClientMachine(servers: ["h": server])
        let before = checks(client, "h")
        XCTAssertEqual(before.status, 0, before.text)
        XCTAssertEqual(status(before.checks, "helper"), "warn", before.text)
        XCTAssertTrue((before.checks["host key"]?["detail"] as? String ?? "").contains("matches \(client.knownHostsPath):1"), before.text)
        XCTAssertTrue((before.checks["authentication"]?["detail"] as? String ?? "").contains("publickey, \(client.identityPath)"), before.text)

        XCTAssertEqual(client.pss(["new", "h", "--name", "kept"]).status, 0)
        defer { _ = client.pss(["remove", "h/kept"]) }
        let after = checks(client, "h")
        XCTAssertEqual(after.status, 0, after.text)
        for name in ["address", "server", "host key", "authentication", "platform", "host directory", "helper", "daemon", "logout", "keepalive"] {
            XCTAssertEqual(status(after.checks, name), "ok", "\(name): \(after.text)")
        }
        XCTAssertTrue((after.checks["daemon"]?["detail"] as? String ?? "").contains("1 sessions"), after.text)
        XCTAssertTrue((after.checks["keepalive"]?["detail"] as? String ?? "").contains("ClientAliveInterval 20"), after.text)
        let text = client.pss(["doctor", "h"])
        XCTAssertEqual(text.status, 0)
        XCTAssertTrue(text.stdoutText.contains("  ok    address"), text.stdoutText)
    }

    /// Several hosts at once, reported in the order given; one that fails fails the whole.
    func testSeveralHostsInOrder() {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h1": server, "h2": server])
        let dead = "127.0.0.1:\(freePort())"
        let result = client.pss(["doctor", "h[1-2]", dead])
        XCTAssertEqual(result.status, 1, result.description)
        let headers = result.stdoutText.split(separator: "\n").filter { !$0.hasPrefix(" ") }
        XCTAssertEqual(headers, ["h1:", "h2:", "\(dead):"], result.stdoutText)
        XCTAssertEqual(client.pss(["doctor", "--dry-run", "h[1-2]"]).stdoutText, "h1\nh2\n")
    }

    func testFailuresSayWhatToDo() {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        let unreachable = checks(client, "127.0.0.1:\(freePort())")
        XCTAssertEqual(unreachable.status, 1, unreachable.text)
        XCTAssertEqual(status(unreachable.checks, "address"), "fail")
        XCTAssertNotNil(unreachable.checks["address"]?["fix"] as? String)

        let impostor = Scratch("doctor-key")
        shell("ssh-keygen -q -t ed25519 -N '' -f '\(impostor.file("key"))'")
        try! ("[127.0.0.1]:\(server.port) " + impostor.read("key.pub").split(separator: " ").prefix(2).joined(separator: " ") + "\n")
            .write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        let changed = checks(client, "h")
        XCTAssertEqual(changed.status, 1, changed.text)
        XCTAssertEqual(status(changed.checks, "address"), "ok")
        XCTAssertEqual(status(changed.checks, "host key"), "fail", changed.text)
        XCTAssertTrue((changed.checks["host key"]?["fix"] as? String ?? "").contains("ssh-keygen -f"), changed.text)
        XCTAssertNil(changed.checks["authentication"], "nothing is sent to a host whose key changed")

        let stranger = ClientMachine()  // its key is never authorized
        stranger.writeConfig(stranger.hostBlock(alias: "h", server: server))
        try! (server.knownHostsLine() + "\n").write(toFile: stranger.knownHostsPath, atomically: true, encoding: .utf8)
        let refused = checks(stranger, "h")
        XCTAssertEqual(status(refused.checks, "authentication"), "fail", refused.text)
        XCTAssertTrue((refused.checks["authentication"]?["fix"] as? String ?? "").contains("authorized_keys"), refused.text)
        XCTAssertFalse(refused.text.contains("see the hints"), refused.text)
    }

    /// Host directories the helper cannot live in: each a failure that names the cause and the mount.
    func testUnusableHostDirectoriesFail() {
        let cases: [(options: [String], megabytes: Int, says: String)] = [
            (["noexec"], 24, "noexec"),
            (["ro"], 24, "read-only"),
            ([], 1, "KiB free"),
        ]
        for (options, megabytes, says) in cases {
            let tmpfs = Tmpfs(megabytes: megabytes, options: options)
            var serverOptions = SSHServer.Options()
            serverOptions.hostDirectory = tmpfs.path + "/pss-host"
            let server = SSHServer(serverOptions)
            let client = ClientMachine(servers: ["h": server])
            let result = checks(client, "h")
            XCTAssertEqual(result.status, 1, "\(options): \(result.text)")
            XCTAssertEqual(status(result.checks, "host directory"), "fail", "\(options): \(result.text)")
            let detail = result.checks["host directory"]?["detail"] as? String ?? ""
            XCTAssertTrue(detail.contains(says) && detail.contains(tmpfs.path), "\(options): \(result.text)")
            XCTAssertNotNil(result.checks["host directory"]?["fix"] as? String, "\(options)")
        }
    }

    /// A host directory that is a symbolic link into a directory others may write: refused, as the relay refuses
    /// it, and what was planted there is never run.
    func testSymlinkedHostDirectoryIsNotTrustedAndNothingInItRuns() {
        let scratch = Scratch("doctor-link")
        let planted = scratch.file("world")
        let ran = scratch.file("planted-helper-ran")
        var options = SSHServer.Options()
        options.hostDirectory = scratch.file("link")
        let server = SSHServer(options)
        let client = ClientMachine(servers: ["h": server])
        let first = checks(client, "h")
        let name = (first.checks["helper"]?["detail"] as? String ?? "").split(separator: " ").first.map(String.init) ?? ""
        XCTAssertTrue(name.hasPrefix("pss-host-"), first.text)
        shell("mkdir -p '\(planted)/bin' && chmod 777 '\(planted)' '\(planted)/bin' && ln -s '\(planted)' '\(scratch.file("link"))'")
        shell("printf '#!/bin/sh\\ntouch \(ran)\\n' > '\(planted)/bin/\(name)' && chmod 755 '\(planted)/bin/\(name)'")
        let result = checks(client, "h")
        XCTAssertEqual(result.status, 1, result.text)
        XCTAssertEqual(status(result.checks, "host directory"), "fail", result.text)
        XCTAssertTrue((result.checks["host directory"]?["detail"] as? String ?? "").contains("symbolic link"), result.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: ran), "the planted helper ran")
    }

    /// A systemd host whose logind ends users' processes at logout: said once when the helper is installed, and by
    /// doctor, with the fix; lingering users, users logind excludes (root by default) and logins outside a logind
    /// session are fine. (The configuration is logind's own file, written by the test; the session id is what
    /// pam_systemd gives a login, set here by sshd since this machine runs no logind.)
    func testLogoutThatWouldEndTheDaemon() {
        let dropIn = "/etc/systemd/logind.conf.d"
        let madeDirectory = !FileManager.default.fileExists(atPath: dropIn)
        shell("mkdir -p \(dropIn) && printf '[Login]\\nKillUserProcesses=yes\\n' > \(dropIn)/zz-pss-test.conf")
        var options = SSHServer.Options()
        options.environment = ["XDG_SESSION_ID": "7"]
        let excluded = SSHServer(options)
        let rootClient = ClientMachine(servers: ["h": excluded])
        XCTAssertEqual(status(checks(rootClient, "h").checks, "logout"), "ok", "root is in KillExcludeUsers by default")
        let plain = SSHServer()
        let outsideSession = ClientMachine(servers: ["h": plain])
        shell("printf 'KillExcludeUsers=\\n' >> \(dropIn)/zz-pss-test.conf")  // nobody excluded, root included
        XCTAssertEqual(status(checks(outsideSession, "h").checks, "logout"), "ok", "no logind session: nothing to end")
        let linger = "/var/lib/systemd/linger/root"
        let madeLinger = !FileManager.default.fileExists(atPath: linger)
        defer {
            unlink(dropIn + "/zz-pss-test.conf")
            if madeDirectory { rmdir(dropIn) }
            if madeLinger { unlink(linger); rmdir("/var/lib/systemd/linger"); rmdir("/var/lib/systemd") }
        }
        let client = ClientMachine(servers: ["h": excluded])
        let first = client.pss(["invoke", "--host", "h", "--", "true"])
        XCTAssertEqual(first.status, 0, "\(first)")
        XCTAssertTrue(first.stderrText.contains("KillUserProcesses=yes"), first.stderrText)
        XCTAssertTrue(first.stderrText.contains("loginctl enable-linger root"), first.stderrText)
        XCTAssertFalse(client.pss(["invoke", "--host", "h", "--", "true"]).stderrText.contains("KillUserProcesses"), "said once")
        let doctor = checks(client, "h")
        XCTAssertEqual(status(doctor.checks, "logout"), "warn", doctor.text)
        XCTAssertTrue((doctor.checks["logout"]?["fix"] as? String ?? "").contains("loginctl enable-linger root"), doctor.text)

        shell("mkdir -p /var/lib/systemd/linger && touch \(linger)")
        XCTAssertEqual(status(checks(client, "h").checks, "logout"), "ok")
    }

    func testDropbear() {
        let user = "pss-test-doctor"
        LocalAccount.ensure(user, password: "doctor-test")
        defer { LocalAccount.remove(user) }
        let server = DropbearServer()
        let client = ClientMachine(loggingInAs: user, to: server)
        let result = checks(client, "h")
        XCTAssertEqual(result.status, 0, result.text)
        XCTAssertTrue((result.checks["server"]?["detail"] as? String ?? "").contains("dropbear"), result.text)
        XCTAssertEqual(status(result.checks, "keepalive"), "ok", result.text)
        XCTAssertTrue((result.checks["keepalive"]?["detail"] as? String ?? "").contains("dropbear: its -K option"), result.text)
    }
}
