import Foundation
import SessionWire
import TestSupport
import XCTest

/// Session configurations against their own users, as an attacker among them would try them: real local users,
/// groups, sudo and sshd, the configuration registered by root. Access taken away holds at the next command; the
/// shared daemon keeps nothing of the user who started it; transcripts cannot be flooded or typed past; caps stay
/// caps on every path; register refuses what it cannot make real.
final class ConfigurationAttackTests: XCTestCase {
    let deploy = "pss-t25-deploy", scribe = "pss-t25-scribe", alice = "pss-t25-alice", bob = "pss-t25-bob"
    let ops = "pss-t25-ops", secret = "pss-t25-secret"

    private func records(_ result: ProcessResult) -> [[String: Any]] {
        result.stdoutText.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    private func users(_ names: String...) {
        for user in names {
            LocalAccount.ensure(user, password: "unused-\(user)", shell: "/bin/bash")
            addTeardownBlock { LocalAccount.remove(user) }
        }
    }

    private func group(_ name: String, members: [String]) {
        shell("getent group \(name) >/dev/null || groupadd \(name)")
        for member in members { shell("usermod -aG \(name) \(member)") }
        addTeardownBlock { _ = ProcessRunner.run("/usr/sbin/groupdel", [name]) }
    }

    /// Registers `name` as root (the result returned); unregistered when the test ends.
    @discardableResult
    private func register(_ admin: ClientMachine, on server: SSHServer, _ name: String, _ text: String, expect status: Int32 = 0) -> ProcessResult {
        let file = admin.scratch.file("\(name).json")
        try! text.write(toFile: file, atomically: true, encoding: .utf8)
        let registered = admin.pss(["config", "register", "--host", "h", name, "--file", file])
        XCTAssertEqual(registered.status, status, "\(registered)")
        addTeardownBlock {
            _ = admin.pss(["config", "unregister", "--host", "h", name])
            _ = server  // kept until then
        }
        return registered
    }

    private func daemons(of name: String) -> [String] {
        ProcessRunner.run("/usr/bin/pgrep", ["-f", "pss-host daemon --configuration \(name)$"]).stdoutText.split(separator: "\n").map(String.init)
    }

    /// What the way in answers a client's hello, run by `command` (a shell line) over SSH as `client`'s user: the
    /// ready line and the daemon's answer, as bytes made text.
    private func wayIn(_ client: ClientMachine, _ command: String) -> String {
        let hello = ClientMessage.hello(version: WireProtocol.version, clientID: UUID().uuidString.lowercased()).encoded()
        let result = ProcessRunner.run("/usr/bin/ssh", ["-F", client.configPath, "-o", "BatchMode=yes", "h", command], stdin: Data(hello), limit: 30)
        return result.stdoutText + result.stderrText
    }

    // MARK: 1. Access taken away

    /// Out of the allowed group, or out of allowUsers, a user is refused at the next command, through the links of
    /// a kept connection made while allowed (they ran on as the runAs user before, every time).
    func testAccessTakenAwayIsRefusedAtTheNextCommand() throws {
        users(deploy, alice)
        group(ops, members: [alice])
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-t25-revoke"
        register(admin, on: server, name, #"{"runAs": "\#(deploy)", "allowGroups": ["\#(ops)"], "allowedCommands": ["id -un"]}"#)
        let aliceClient = ClientMachine(loggingInAs: alice, to: server)
        let kept = { (arguments: [String]) in aliceClient.pss(["-o", "ControlMaster=auto", "-o", "ControlPersist=60"] + arguments) }
        XCTAssertEqual(kept(["new", "h", "--configuration", name, "--name", "ro1"]).status, 0)
        XCTAssertTrue(
            Processes.waitUntil(limit: 10) {
                kept(["-v", "invoke", "--session", "h/ro1", "--", "id -un"]).stderrText.contains("using the kept connection to h")
            }, "the keeper serves the configuration's session")
        XCTAssertEqual(kept(["invoke", "--session", "h/ro1", "--", "id -un"]).stdoutText, "\(deploy)\n")

        shell("gpasswd -d \(alice) \(ops)")
        let refused = kept(["-v", "invoke", "--session", "h/ro1", "--", "id -un"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("does not allow user \(alice)"), refused.stderrText)
        XCTAssertTrue(refused.stderrText.contains("using the kept connection"), "refused on a link made while allowed: \(refused.stderrText)")
        XCTAssertFalse(refused.stdoutText.contains(deploy))
        shell("usermod -aG \(ops) \(alice)")
        XCTAssertEqual(kept(["invoke", "--session", "h/ro1", "--", "id -un"]).stdoutText, "\(deploy)\n", "let in again")

        // Without runAs the daemon is the user's own, and asked all the same.
        let own = "pss-t25-own"
        register(admin, on: server, own, #"{"allowUsers": ["\#(alice)"], "allowedCommands": ["id -un"]}"#)
        XCTAssertEqual(kept(["new", "h", "--configuration", own, "--name", "own1"]).status, 0)
        XCTAssertEqual(kept(["invoke", "--session", "h/own1", "--", "id -un"]).stdoutText, "\(alice)\n")
        register(admin, on: server, own, #"{"allowUsers": ["\#(deploy)"], "allowedCommands": ["id -un"]}"#)
        let out = kept(["invoke", "--session", "h/own1", "--", "id -un"])
        XCTAssertEqual(out.status, 254, "\(out)")
        XCTAssertTrue(out.stderrText.contains("does not allow user \(alice)"), out.stderrText)
    }

    // MARK: 2. The shared daemon's start

    /// The daemon a runAs configuration's users share starts with none of its starter's groups or limits: `sudo -P`
    /// (the caller's groups kept) and `ulimit -n 16` are refused, and the daemon another user then starts has the
    /// runAs user's own groups and usual limits.
    func testASharedDaemonKeepsNothingOfWhoStartedIt() throws {
        users(deploy, alice, bob)
        group(secret, members: [alice])
        let file = "/var/tmp/\(secret)"
        shell("echo only-the-secret-group > \(file); chown root:\(secret) \(file); chmod 0640 \(file)")
        addTeardownBlock { unlink(file) }
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-t25-clean"
        register(admin, on: server, name, #"{"runAs": "\#(deploy)", "allowUsers": ["\#(alice)", "\#(bob)"]}"#)
        let helper = "/usr/local/lib/pss/pss-host"

        let aliceClient = ClientMachine(loggingInAs: alice, to: server)
        let preserved = wayIn(aliceClient, "exec sudo -n -P -u \(deploy) -- \(helper) runas \(name)")
        XCTAssertTrue(preserved.contains("sudo kept the caller's groups"), preserved)
        let limited = wayIn(aliceClient, "ulimit -n 16; exec sudo -n -u \(deploy) -- \(helper) runas \(name)")
        XCTAssertTrue(limited.contains("open files limit is lowered to 16"), limited)
        XCTAssertTrue(daemons(of: name).isEmpty, "no daemon started from either")

        let bobClient = ClientMachine(loggingInAs: bob, to: server)
        XCTAssertEqual(bobClient.pss(["new", "h", "--configuration", name, "--name", "shared"]).status, 0)
        let seen = bobClient.pss(["invoke", "--session", "h/shared", "--", "id -Gn; ulimit -n; umask; cat \(file) || echo refused"])
        let lines = seen.stdoutText.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, "\(seen)")
        XCTAssertFalse(lines[0].contains(secret), "the runAs user's own groups: \(lines)")
        XCTAssertGreaterThanOrEqual(Int(lines[1]) ?? 0, 1024, "\(lines)")
        XCTAssertEqual(lines[3], "refused", "\(seen)")
        XCTAssertTrue(seen.stderrText.contains("Permission denied"), seen.stderrText)
    }

    // MARK: 3. Transcripts

    /// A refused line is recorded bounded (prefix, length, hash); a user's flood is held to the rate, the lines
    /// over it counted; and keys typed into an invoked command's terminal never reach it unrecorded.
    func testTranscriptsCannotBeFloodedNorTypedPast() throws {
        users(deploy, scribe, alice)
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-t25-flood", transcripts = "/home/\(deploy)/t25"
        register(
            admin, on: server, name,
            #"{"runAs": "\#(deploy)", "allowUsers": ["\#(alice)"], "allowedCommands": ["uptime"], "transcriptDirectory": "\#(transcripts)"}"#)
        let aliceClient = ClientMachine(loggingInAs: alice, to: server)
        let made = records(aliceClient.pss(["--json", "new", "h", "--configuration", name, "--name", "fl"]))
        let id = try XCTUnwrap(made.first?["id"] as? String, "\(made)")
        let flood = String(repeating: "\u{1}", count: 120_000)
        let refused = aliceClient.pss(["invoke", "--session", "h/fl", "--", flood])
        XCTAssertEqual(refused.status, 254, "\(refused.stderrText.prefix(500))")
        let log = try String(contentsOfFile: "\(transcripts)/\(id).log", encoding: .utf8)
        XCTAssertLessThan(log.utf8.count, 16 << 10, "one refused line of 120,000 control bytes")
        XCTAssertTrue(log.contains("length=120000 sha256="), String(log.suffix(300)))

        // 300 refused lines of 100 KB as fast as one process can send them, straight to the way in.
        var frames = ClientMessage.hello(version: WireProtocol.version, clientID: UUID().uuidString.lowercased()).encoded()
        let line = String(repeating: "\u{2}", count: 100_000)
        for _ in 0..<300 {
            frames += ClientMessage.invoke(ClientMessage.Invocation(session: "", command: line, forwardStdin: false, waitSeconds: 0)).encoded()
        }
        let sent = ProcessRunner.run(
            "/usr/sbin/runuser", ["-u", alice, "--", "/usr/local/lib/pss/pss-host", "session", name], stdin: Data(frames), limit: 120)
        XCTAssertTrue(sent.stdoutText.hasPrefix("pss-host relay ready"), "\(sent)")
        let total = try FileManager.default.contentsOfDirectory(atPath: transcripts).reduce(0) { sum, file in
            sum + ((try? FileManager.default.attributesOfItem(atPath: "\(transcripts)/\(file)")[.size] as? Int) ?? 0)
        }
        XCTAssertLessThan(total, 2 << 20, "300 refused lines of 100 KB (escaped: 120 MB unbounded)")
        // The lines over the rate are counted, and the count goes with the user's next entry.
        XCTAssertTrue(
            Processes.waitUntil(limit: 30) {
                _ = aliceClient.pss(["invoke", "--session", "h/fl", "--", "uptime; sh"])
                let text = (try? String(contentsOfFile: "\(transcripts)/\(id).log", encoding: .utf8)) ?? ""
                return text.contains("refused lines not recorded (over the transcript's rate)")
            }, "the unrecorded lines were counted")
    }

    /// Under a transcript, keys typed into an invoked command's terminal do not reach it (a `bash -i` there read
    /// commands the transcript never saw); the command gets end of file, and pss says why.
    func testKeysTypedIntoAnInvokedCommandAreNotTakenUnderATranscript() throws {
        users(scribe, alice)
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-t25-typed", transcripts = "/home/\(scribe)/t25"
        register(admin, on: server, name, #"{"runAs": "\#(scribe)", "allowUsers": ["\#(alice)"], "transcriptDirectory": "\#(transcripts)"}"#)
        let aliceClient = ClientMachine(loggingInAs: alice, to: server)
        let made = records(aliceClient.pss(["--json", "new", "h", "--configuration", name, "--name", "ty"]))
        let id = try XCTUnwrap(made.first?["id"] as? String, "\(made)")
        // The command reads a line from its terminal and runs it.
        let terminal = TmuxTerminal(
            command:
                "'\(PSSBinary.path)' -F '\(aliceClient.configPath)' invoke --session h/ty -- 'echo typing-now; read -r line </dev/tty; echo \"got:[$line]\"; eval \"$line\"'",
            environment: aliceClient.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("typing-now"), terminal.screen)
        terminal.typeLine("echo unrecorded-$((6*7)) > /tmp/pss-t25-typed")
        XCTAssertTrue(terminal.waitFor("keys typed here do not reach an invoked command"), terminal.screen)
        XCTAssertTrue(terminal.waitFor("got:[]"), "it got end of file: \(terminal.screen)")
        XCTAssertTrue(terminal.screen.contains("keeps a transcript, so no keys are typed into an invoked command"), terminal.screen)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/pss-t25-typed"), "the typed command ran")
        let log = try String(contentsOfFile: "\(transcripts)/\(id).log", encoding: .utf8)
        XCTAssertTrue(log.contains("read -r line </dev/tty"), log)
        XCTAssertFalse(log.contains("unrecorded"), log)
    }

    // MARK: 4. Caps

    /// The configuration's bounds hold on every path that sets them (disconnect's idle timeout, --max-buffer, jobs)
    /// and follow the file down: a lowered idle timeout reaches the sessions made before.
    func testCapsHoldOnEveryPathAndFollowTheFile() throws {
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-t25-caps"
        register(admin, on: server, name, #"{"idleTimeoutSeconds": 3600, "maxBufferBytes": 1048576, "maxJobsPerUser": 2}"#)
        let made = records(admin.pss(["--json", "new", "h", "--configuration", name, "--name", "cap", "--max-buffer", "1G"]))
        XCTAssertEqual(made.first?["maxBuffer"] as? Int, 1 << 20, "\(made)")
        let disconnected = records(admin.pss(["--json", "disconnect", "h/cap", "--idle-timeout", "3650d"]))
        XCTAssertEqual(disconnected.first?["idleTimeoutSeconds"] as? Int, 3600, "ten years asked, the hour kept: \(disconnected)")
        let connected = admin.pss(["connect", "h/cap"])
        XCTAssertEqual(connected.status, 0, "\(connected)")
        for job in ["j1", "j2"] {
            let started = admin.pss(["invoke", "--session", "h/cap", "--as-job", "--job-name", job, "--", "true"])
            XCTAssertEqual(started.status, 0, "\(started)")
            XCTAssertEqual(admin.pss(["job", "wait", job, "--session", "h/cap"]).status, 0)
        }
        let third = admin.pss(["invoke", "--session", "h/cap", "--as-job", "--job-name", "j3", "--", "true"])
        XCTAssertEqual(third.status, 254, "\(third)")
        XCTAssertTrue(third.stderrText.contains("keeps at most 2 jobs per user"), third.stderrText)

        register(admin, on: server, name, #"{"idleTimeoutSeconds": 600, "maxBufferBytes": 1048576, "maxJobsPerUser": 2}"#)
        let listed = records(admin.pss(["--json", "get", "--host", "h", "--configuration", name]))
        XCTAssertEqual(listed.first { $0["name"] as? String == "cap" }?["idleTimeoutSeconds"] as? Int, 600, "\(listed)")
        let jobs = admin.pss(["job", "list", "--session", "h/cap", "--json"]).stdoutText
        XCTAssertFalse(jobs.isEmpty)
    }

    // MARK: 5. What register will not do

    /// A transcript directory with `..`, or one that exists and is not the runAs user's alone, is refused (it
    /// chowned /var/log to the runAs user); a lock over a shell that reads a file the user can write is refused.
    func testRegisterRefusesWhatItCannotMakeReal() throws {
        users(deploy, alice)
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        var before = stat()
        stat("/var/log", &before)
        for (directory, reason) in [("/var/log/pss/..", "no '.', '..' or empty parts"), ("/var/log", "pss changes no existing directory")] {
            let refused = register(
                admin, on: server, "pss-t25-dir", #"{"runAs": "\#(deploy)", "allowUsers": ["\#(alice)"], "transcriptDirectory": "\#(directory)"}"#,
                expect: 254)
            XCTAssertTrue(refused.stderrText.contains(reason), refused.stderrText)
        }
        var after = stat()
        stat("/var/log", &after)
        XCTAssertEqual([after.st_uid, after.st_gid, after.st_mode], [before.st_uid, before.st_gid, before.st_mode], "/var/log untouched")

        let lock = #"{"allowUsers": ["\#(alice)"], "lockUsers": ["\#(alice)"], "allowedCommands": ["id -un"]}"#
        let bash = register(admin, on: server, "pss-t25-lock", lock, expect: 254)
        XCTAssertTrue(bash.stderrText.contains("reads ~/.bashrc before sshd's ForceCommand"), bash.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/ssh/sshd_config.d/pss-pss-t25-lock.conf"))
        shell("chsh -s /bin/sh \(alice)")
        register(admin, on: server, "pss-t25-lock", lock)
    }
}
