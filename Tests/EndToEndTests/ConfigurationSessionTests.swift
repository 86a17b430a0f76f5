import Foundation
import TestSupport
import XCTest

/// Sessions of session configurations, end to end: real local users logging in with their own keys to a real sshd,
/// the configuration registered by root with `pss config register` (the real /etc/pss, /usr/local/lib/pss and
/// sudoers drop-in), sudo taking allowed users to the runAs user, and the restricted rules applied by the host.
final class ConfigurationSessionTests: XCTestCase {
    let deploy = "pss-test-deploy", alice = "pss-test-alice", bob = "pss-test-bob", eve = "pss-test-eve"
    let group = "pss-test-opsgrp"

    private func records(_ result: ProcessResult) -> [[String: Any]] {
        result.stdoutText.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Registers `name` on `server` as root; unregistered when the test ends (the server kept until then).
    private func register(_ admin: ClientMachine, on server: SSHServer, _ name: String, _ text: String) {
        let file = admin.scratch.file("\(name).json")
        try! text.write(toFile: file, atomically: true, encoding: .utf8)
        let registered = admin.pss(["config", "register", "--host", "h", name, "--file", file])
        XCTAssertEqual(registered.status, 0, "\(registered)")
        var kept: SSHServer? = server  // until unregistered, then let go (its sshd ends with it)
        addTeardownBlock {
            _ = admin.pss(["config", "unregister", "--host", "h", name])
            kept?.stop()
            kept = nil
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/pss/configurations/\(name).json"), "left behind")
        }
    }

    /// Types `line` in `terminal` and waits for `shows` on its screen.
    private func type(_ line: String, in terminal: TmuxTerminal, shows: String, file: StaticString = #filePath, line number: UInt = #line) {
        terminal.typeLine(line)
        XCTAssertTrue(terminal.waitFor(shows), terminal.screen, file: file, line: number)
    }

    private func daemons(of name: String) -> [String] {
        ProcessRunner.run("/usr/bin/pgrep", ["-f", "pss-host daemon --configuration \(name)$"]).stdoutText.split(separator: "\n").map(String.init)
    }

    func testRestrictedRunAsSessionsAreSharedByAllowedUsersOnly() throws {
        for user in [deploy, alice, bob, eve] {
            LocalAccount.ensure(user, password: "unused-\(user)", shell: "/bin/bash")
            addTeardownBlock { LocalAccount.remove(user) }
        }
        shell("getent group \(group) >/dev/null || groupadd \(group); usermod -aG \(group) \(bob)")
        addTeardownBlock { _ = ProcessRunner.run("/usr/sbin/groupdel", [self.group]) }
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let transcripts = "/home/\(deploy)/transcripts"
        let name = "pss-test-ops"
        register(
            admin, on: server, name,
            #"""
            {"runAs": "\#(deploy)", "allowUsers": ["\#(alice)"], "allowGroups": ["\#(group)"],
             "allowedCommands": ["id -un", "echo *", "printenv", "cat /etc/hostname"],
             "environment": {"PSS_OPS_TEAM": "blue"}, "transcriptDirectory": "\#(transcripts)"}
            """#)
        let aliceClient = ClientMachine(loggingInAs: alice, to: server)
        let bobClient = ClientMachine(loggingInAs: bob, to: server)
        let eveClient = ClientMachine(loggingInAs: eve, to: server)

        let made = aliceClient.pss(["new", "h", "--configuration", name, "--name", "ops1"])
        XCTAssertEqual(made.status, 0, "\(made)")
        // Known to alice's client as a session of the configuration: no --configuration needed after.
        let identity = aliceClient.pss(["invoke", "--session", "h/ops1", "--", "id -un"])
        XCTAssertEqual(identity.stdoutText, "\(deploy)\n", "the command runs as the runAs user: \(identity)")

        // Rule 1-3: shell syntax is refused, by the host, naming the configuration.
        for line in ["id -un; sh", "echo a | sh", "echo $(id)", "echo `id`", "echo a > /tmp/x", "/usr/bin/id -un", "sh -c id", "echo \"$HOME\""] {
            let refused = aliceClient.pss(["invoke", "--session", "h/ops1", "--", line])
            XCTAssertEqual(refused.status, 254, "\(line): \(refused)")
            XCTAssertTrue(refused.stderrText.contains("configuration \(name) does not allow this command"), "\(line): \(refused.stderrText)")
        }
        // Rule 4: glob characters, ~ and ; inside quotes are passed literally.
        let literal = aliceClient.pss(["invoke", "--session", "h/ops1", "--", #"echo * ~ '{a,b}' "x;y""#])
        XCTAssertEqual(literal.stdoutText, "* ~ {a,b} x;y\n", "\(literal)")
        // Rule 7: an environment built from scratch.
        let environment = aliceClient.pss(["invoke", "--session", "h/ops1", "--", "printenv"]).stdoutText
        XCTAssertTrue(environment.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"), environment)
        XCTAssertTrue(environment.contains("PAGER=cat\n") && environment.contains("SYSTEMD_PAGERSECURE=1\n"), environment)
        XCTAssertTrue(environment.contains("PSS_OPS_TEAM=blue\n") && environment.contains("HOME=/home/\(deploy)\n"), environment)
        for leaked in ["SSH_", "SUDO_", "PSS_SESSION", "PSS_HOST", "LD_", "MAIL="] {
            XCTAssertFalse(environment.contains(leaked), "\(leaked) in \(environment)")
        }

        // Bob (by his group) sees the session, with who made it and as whom it runs, and can take it over.
        let listed = records(bobClient.pss(["--json", "get", "--host", "h", "--configuration", name]))
        let entry = try XCTUnwrap(listed.first { $0["name"] as? String == "ops1" }, "\(listed)")
        XCTAssertEqual(entry["owner"] as? String, alice)
        XCTAssertEqual(entry["runAs"] as? String, deploy)
        XCTAssertEqual(entry["configuration"] as? String, name)
        // Without --configuration too, as Get-PSSession lists every session the user may use: his own and those of
        // the configurations that let him in; eve, not allowed, sees none of them.
        let everything = records(bobClient.pss(["--json", "get", "--host", "h"]))
        XCTAssertEqual(everything.first { $0["name"] as? String == "ops1" }?["configuration"] as? String, name, "\(everything)")
        let eveSees = eveClient.pss(["--json", "get", "--host", "h"])
        XCTAssertEqual(eveSees.status, 0, "\(eveSees)")
        XCTAssertFalse(eveSees.stdoutText.contains("ops1"), eveSees.stdoutText)
        XCTAssertEqual(bobClient.pss(["connect", "--force", "--configuration", name, "h/ops1"]).status, 0)
        XCTAssertEqual(bobClient.pss(["invoke", "--session", "h/ops1", "--", "echo from bob"]).stdoutText, "from bob\n")

        // Eve is not allowed: refused before anything of the configuration is shown.
        for command in [["get", "--host", "h"], ["invoke", "--session", "h/ops1", "--", "id -un"], ["new", "h", "--name", "mine"]] {
            let refused = eveClient.pss(["--configuration", name] + command)
            XCTAssertEqual(refused.status, 254, "\(command): \(refused)")
            XCTAssertTrue(refused.stderrText.contains("does not allow user \(eve)"), refused.stderrText)
        }
        // Nor does her own sudo reach the runAs user.
        XCTAssertNotEqual(
            ProcessRunner.run("/usr/sbin/runuser", ["-u", eve, "--", "sudo", "-n", "-u", deploy, "/usr/local/lib/pss/pss-host", "runas", name]).status, 0)

        // The transcript: every line, accepted or refused, with the real user; the users can neither read nor write it.
        let id = try XCTUnwrap(entry["id"] as? String)
        let log = try String(contentsOfFile: "\(transcripts)/\(id).log", encoding: .utf8)
        XCTAssertTrue(log.contains("user=\(alice) runAs=\(deploy) session=ops1 (\(id)) started"), log)
        XCTAssertTrue(log.contains("user=\(alice) runAs=\(deploy) session=ops1 (\(id)) refused") && log.contains(#"line="id -un; sh""#), log)
        XCTAssertTrue(log.contains("user=\(bob) runAs=\(deploy)") && log.contains("status 0"), log)
        for user in [alice, bob] {
            XCTAssertNotEqual(ProcessRunner.run("/usr/sbin/runuser", ["-u", user, "--", "cat", "\(transcripts)/\(id).log"]).status, 0)
            XCTAssertNotEqual(ProcessRunner.run("/usr/sbin/runuser", ["-u", user, "--", "touch", "\(transcripts)/forged.log"]).status, 0)
        }

        // pss enter in a restricted session: a line prompt, each line checked by the host as an invoke.
        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(aliceClient.configPath)' enter --force h/ops1", environment: aliceClient.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("\(name)> "), terminal.screen)
        type("echo entered-$((1+1))", in: terminal, shows: "does not allow this command")
        type("echo entered and allowed", in: terminal, shows: "entered and allowed\n")
        type("exit", in: terminal, shows: "[exit 0]")
        XCTAssertTrue(terminal.screen.contains("it stays open"), terminal.screen)

        // A configuration's daemon never changes configurations, whoever asks through it.
        let file = aliceClient.scratch.file("mine.json")
        try #"{"runAs": "root", "allowUsers": ["\#(alice)"]}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let through = aliceClient.pss(["--configuration", name, "config", "register", "--host", "h", "pss-test-mine", "--file", file])
        XCTAssertEqual(through.status, 254, "\(through)")
        XCTAssertTrue(through.stderrText.contains("not through a configuration"), through.stderrText)
        // A runAs account serves one configuration.
        let adminFile = admin.scratch.file("second.json")
        try #"{"runAs": "\#(deploy)", "allowUsers": ["\#(alice)"], "allowedCommands": ["id"]}"#.write(toFile: adminFile, atomically: true, encoding: .utf8)
        let second = admin.pss(["config", "register", "--host", "h", "pss-test-second", "--file", adminFile])
        XCTAssertEqual(second.status, 254, "\(second)")
        XCTAssertTrue(second.stderrText.contains("already serves configuration \(name)"), second.stderrText)
        // A change of the file reaches the running daemon at the next connection: `echo *` is no longer allowed.
        register(
            admin, on: server, name,
            #"{"runAs": "\#(deploy)", "allowUsers": ["\#(alice)"], "allowGroups": ["\#(group)"], "allowedCommands": ["id -un"], "transcriptDirectory": "\#(transcripts)"}"#
        )
        let narrowed = aliceClient.pss(["invoke", "--session", "h/ops1", "--", "echo still"])
        XCTAssertEqual(narrowed.status, 254, "\(narrowed)")
        XCTAssertTrue(narrowed.stderrText.contains("does not allow this command"), narrowed.stderrText)

        // Unregistering closes its sessions and leaves nothing of them.
        XCTAssertFalse(daemons(of: name).isEmpty)
        XCTAssertEqual(admin.pss(["config", "unregister", "--host", "h", name]).status, 0)
        XCTAssertTrue(Processes.waitUntil(limit: 10) { self.daemons(of: name).isEmpty }, "the configuration's daemon ended")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/home/\(deploy)/.local/state/pss-host/configurations/\(name)"))
        let gone = aliceClient.pss(["invoke", "--session", "h/ops1", "--", "id -un"])
        XCTAssertEqual(gone.status, 254, "\(gone)")
    }

    func testAShellConfigurationAppliesItsSettings() throws {
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-test-shellcfg"
        let script = "/etc/pss/\(name)-startup.sh"
        try "PSS_TEST_STARTED=yes\n".write(toFile: script, atomically: true, encoding: .utf8)
        addTeardownBlock { unlink(script) }
        register(
            admin, on: server, name,
            #"{"environment": {"PSS_TEST_GREETING": "hello"}, "maxSessionsPerUser": 1, "idleTimeoutSeconds": 600, "startupScript": "\#(script)"}"#)

        let made = records(admin.pss(["--json", "new", "h", "--configuration", name, "--name", "cfg", "--idle-timeout", "2h"]))
        let record = try XCTUnwrap(made.first, "\(made)")
        XCTAssertEqual(record["configuration"] as? String, name)
        XCTAssertEqual(record["idleTimeoutSeconds"] as? Int, 600, "the configuration's idle timeout is the longest")
        XCTAssertTrue(record["runAs"] is NSNull)
        let said = admin.pss(["invoke", "--session", "h/cfg", "--", "echo $PSS_TEST_GREETING $PSS_TEST_STARTED"])
        XCTAssertEqual(said.stdoutText, "hello yes\n", "\(said)")
        let second = admin.pss(["new", "h", "--configuration", name, "--name", "cfg2"])
        XCTAssertEqual(second.status, 254, "\(second)")
        XCTAssertTrue(second.stderrText.contains("allows 1 session per user"), second.stderrText)

        // Plain `get` shows the user's own sessions and those of the configurations this client knows.
        XCTAssertEqual(admin.pss(["new", "h", "--name", "plain"]).status, 0)
        let table = admin.pss(["get"])
        let lines = table.stdoutText.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertTrue(lines.contains { $0.contains("cfg") && $0.contains(name) }, table.stdoutText)
        XCTAssertTrue(lines.contains { $0.contains("plain") && !$0.contains(name) }, table.stdoutText)
        XCTAssertEqual(admin.pss(["remove", "h/plain"]).status, 0)
        XCTAssertEqual(admin.pss(["remove", "h/cfg"]).status, 0)
        XCTAssertEqual(admin.pss(["invoke", "--host", "h", "--configuration", "pss-test-nosuch", "--", "true"]).status, 254)
    }

    /// A configuration's commands go through the kept connection too (a link to its daemon, through the system-wide
    /// helper, opened by the keeper): one login serves them, and the host's refusals come through it unchanged.
    func testAConfigurationsCommandsUseTheKeptConnection() throws {
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-test-keptcfg"
        register(admin, on: server, name, #"{"allowedCommands": ["echo *"]}"#)
        let kept = { (arguments: [String]) in admin.pss(["-o", "ControlMaster=auto", "-o", "ControlPersist=2"] + arguments) }
        XCTAssertEqual(kept(["new", "h", "--configuration", name, "--name", "k"]).status, 0)
        XCTAssertTrue(
            Processes.waitUntil(limit: 10) {
                kept(["-v", "invoke", "--session", "h/k", "--", "echo ready"]).stderrText.contains("using the kept connection to h")
            }, "the keeper serves the configuration's session")
        let logins = server.log.components(separatedBy: "Accepted publickey").count
        for number in 0..<5 {
            let said = kept(["invoke", "--session", "h/k", "--", "echo \(number)"])
            XCTAssertEqual(said.stdoutText, "\(number)\n", "\(said)")
        }
        let refused = kept(["invoke", "--session", "h/k", "--", "echo $HOME"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("configuration \(name) does not allow"), refused.stderrText)
        // A change of the file reaches the daemon through links it handed out long ago: checked before each request.
        register(admin, on: server, name, #"{"allowedCommands": ["echo only-this"]}"#)
        let narrowed = kept(["-v", "invoke", "--session", "h/k", "--", "echo 7"])
        XCTAssertEqual(narrowed.status, 254, "\(narrowed)")
        XCTAssertTrue(narrowed.stderrText.contains("using the kept connection"), narrowed.stderrText)
        XCTAssertEqual(kept(["invoke", "--session", "h/k", "--", "echo only-this"]).stdoutText, "only-this\n")
        XCTAssertEqual(server.log.components(separatedBy: "Accepted publickey").count, logins + 1, "one login: the admin's register")
        // Kept past its linger (2 s) while this client holds the configuration's session (nothing else can show
        // that a keeper did not end: two lingers pass), and ended once it holds none.
        let keep = admin.baseEnvironment["PSS_CLIENT_DIR"]! + "/keep"
        let keptSockets = { ((try? FileManager.default.contentsOfDirectory(atPath: keep)) ?? []).filter { $0.count == 32 } }
        XCTAssertFalse(Processes.waitUntil(limit: 5) { keptSockets().isEmpty }, "the keeper ended while a session was held")
        XCTAssertEqual(kept(["remove", "h/k"]).status, 0)
        XCTAssertTrue(Processes.waitUntil(limit: 15) { keptSockets().isEmpty }, "the keeper outlived its linger")
    }

    /// A runAs configuration with a shell: what an entered user types is transcribed line by line, except what a
    /// program reads without echo (a password).
    func testEnteredLinesAreTranscribedButNotPasswords() throws {
        for user in [deploy, alice] {
            LocalAccount.ensure(user, password: "unused-\(user)", shell: "/bin/bash")
            addTeardownBlock { LocalAccount.remove(user) }
        }
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let transcripts = "/home/\(deploy)/transcripts", name = "pss-test-shellops"
        register(admin, on: server, name, #"{"runAs": "\#(deploy)", "allowUsers": ["\#(alice)"], "transcriptDirectory": "\#(transcripts)"}"#)
        let aliceClient = ClientMachine(loggingInAs: alice, to: server)
        let made = records(aliceClient.pss(["--json", "new", "h", "--configuration", name, "--name", "sh1"]))
        let id = try XCTUnwrap(made.first?["id"] as? String, "\(made)")
        XCTAssertEqual(aliceClient.pss(["invoke", "--session", "h/sh1", "--", "id -un"]).stdoutText, "\(deploy)\n")

        let terminal = TmuxTerminal(
            command: "'\(PSSBinary.path)' -F '\(aliceClient.configPath)' enter h/sh1", environment: aliceClient.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("\(deploy)@"), "the session's prompt: \(terminal.screen)")
        type("echo typed-$((6*7))", in: terminal, shows: "typed-42")
        type("read -s -p Secret: secret; echo got-${#secret}", in: terminal, shows: "Secret:")
        type("hunter2-secret", in: terminal, shows: "got-14")
        terminal.press("C-\\")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)

        let log = try String(contentsOfFile: "\(transcripts)/\(id).log", encoding: .utf8)
        XCTAssertTrue(log.contains(#"user=\#(alice) runAs=\#(deploy) session=sh1 (\#(id)) typed line="echo typed-$((6*7))""#), log)
        XCTAssertTrue(log.contains("typed with echo off (not recorded)"), log)
        XCTAssertFalse(log.contains("hunter2"), log)
        XCTAssertTrue(log.contains(#"started Job1 line="id -un""#), log)
    }

    /// lockUsers: the user's SSH logins run only the helper (sshd's ForceCommand), which answers pss alone, in the
    /// configuration, and never gives the original command to a shell.
    func testALockedUserHasNoShellOnlyPss() throws {
        LocalAccount.ensure(alice, password: "unused-\(alice)")
        addTeardownBlock { LocalAccount.remove(self.alice) }
        let server = SSHServer()
        let admin = ClientMachine(servers: ["h": server])
        let name = "pss-test-locked"
        register(admin, on: server, name, #"{"allowUsers": ["\#(alice)"], "lockUsers": ["\#(alice)"], "allowedCommands": ["id -un", "echo *"]}"#)
        let dropIn = "/etc/ssh/sshd_config.d/pss-pss-test-locked.conf"
        let text = try String(contentsOfFile: dropIn, encoding: .utf8)
        XCTAssertTrue(text.contains("Match User \(alice)\n    ForceCommand /usr/local/lib/pss/pss-host locked \(name)"), text)
        // An sshd that reads the drop-in, as Debian's reads sshd_config.d/*.conf.
        var options = SSHServer.Options()
        options.extraConfig = ["Include \(dropIn)"]
        let lockedServer = SSHServer(options)
        let aliceClient = ClientMachine(loggingInAs: alice, to: lockedServer)

        for command in [["id"], ["sh", "-c", "id"], ["sh", "-s"], []] {
            let tried = ProcessRunner.run(
                "/usr/bin/ssh", ["-F", aliceClient.configPath, "-o", "BatchMode=yes", "h"] + command, stdin: Data("id\n".utf8))
            XCTAssertFalse(tried.stdoutText.contains("uid="), "\(command): \(tried)")
            if command == ["sh", "-s"] {
                // pss's own request: the line on stdin is dropped, and only pss's protocol answers.
                XCTAssertTrue(tried.stdoutText.hasPrefix("pss-host relay ready"), "\(tried)")
            } else {
                XCTAssertNotEqual(tried.status, 0, "\(command): \(tried)")
                XCTAssertTrue(tried.stderrText.contains("may use only pss"), "\(command): \(tried)")
            }
        }
        // pss works, in the configuration whatever the client asked for, by its rules.
        let allowed = aliceClient.pss(["invoke", "--host", "h", "--", "id -un"])
        XCTAssertEqual(allowed.stdoutText, "\(alice)\n", "\(allowed)")
        let refused = aliceClient.pss(["invoke", "--host", "h", "--", "sh"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("configuration \(name) does not allow"), refused.stderrText)

        XCTAssertEqual(admin.pss(["config", "unregister", "--host", "h", name]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dropIn), "the drop-in goes with the configuration")
    }
}
