import Foundation
import Glibc
import SessionWire
import TestSupport
import XCTest

/// Commands over several targets: three sshd on loopback addresses of their own (127.0.0.2-4), each with its own
/// host directory, reached as n1, n2 and n3; "dead" (a port nothing listens on) and "silent" (a port that accepts
/// and says nothing).
final class FanOutTests: XCTestCase {
    struct Fleet {
        let servers: [SSHServer]
        let client: ClientMachine
        let silent: Int32
    }

    nonisolated(unsafe) private static var fleet: Fleet?

    override class func setUp() {
        super.setUp()
        let servers = (1...3).map { node in
            var options = SSHServer.Options()
            options.extraConfig = ["ListenAddress 127.0.0.\(node + 1)"]
            options.environment = ["LC_FANOUT_NODE": "n\(node)"]
            return SSHServer(options)
        }
        let client = ClientMachine()
        var config: [String] = []
        var known: [String] = []
        for (index, server) in servers.enumerated() {
            server.authorize(client.publicKey)
            config += client.hostBlock(alias: "n\(index + 1)", port: server.port, address: "127.0.0.\(index + 2)")
            known.append("[127.0.0.\(index + 2)]:\(server.port) \(server.hostPublicKey())")
        }
        config += client.hostBlock(alias: "dead", port: freePort())
        // A listener that never accepts: the kernel completes the handshake, and nothing is ever said.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in(
            sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(silent, $0, length)
                _ = getsockname(silent, $0, &length)
            }
        }
        listen(silent, 16)
        config += client.hostBlock(alias: "silent", port: Int(UInt16(bigEndian: address.sin_port)))
        client.writeConfig(config)
        try! (known.map { $0 + "\n" }.joined()).write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        fleet = Fleet(servers: servers, client: client, silent: silent)
    }

    override class func tearDown() {
        if let fleet {
            _ = fleet.client.pss(["remove", "--host", "n[1-3]", "--all"])
            close(fleet.silent)
        }
        fleet = nil
        super.tearDown()
    }

    private var client: ClientMachine { Self.fleet!.client }
    private var servers: [SSHServer] { Self.fleet!.servers }

    /// A shell `case` that runs `actions[i]` on host n(i+1) (each sshd sets LC_FANOUT_NODE to its name: LC_* reach the shells).
    private func perHost(_ actions: [String]) -> String {
        "case \"$LC_FANOUT_NODE\" in " + actions.enumerated().map { "n\($0.offset + 1)) \($0.element) ;; " }.joined() + "esac"
    }

    func testEachLineIsPrefixedWithItsTarget() {
        let result = client.pss(["invoke", "--host", "n[1-3]", "--", perHost(["echo one", "echo two", "echo three"]) + "; echo err >&2; printf last"])
        XCTAssertEqual(result.status, 0, result.description)
        let out = Set(result.stdoutText.split(separator: "\n").map(String.init))
        XCTAssertEqual(out, ["n1: one", "n2: two", "n3: three", "n1: last", "n2: last", "n3: last"], result.description)
        XCTAssertTrue(result.stdoutText.hasSuffix("\n"), "a last line without a newline gets one")
        let err = Set(result.stderrText.split(separator: "\n").map(String.init))
        XCTAssertEqual(err, ["n1: err", "n2: err", "n3: err"], result.description)
    }

    func testStatusesAndAFailureSummary() {
        let mixed = client.pss(["invoke", "--host", "n1,n2", "--host", "n3", "--", perHost(["exit 0", "exit 3", "exit 5"])])
        XCTAssertEqual(mixed.status, 5, "the largest remote status: \(mixed)")
        XCTAssertTrue(mixed.stderrText.contains("2 of 3 targets failed"), mixed.description)
        XCTAssertTrue(mixed.stderrText.contains("n2: exit status 3"), mixed.description)
        XCTAssertTrue(mixed.stderrText.contains("n3: exit status 5"), mixed.description)

        let unreachable = client.pss(["invoke", "--host", "n1,dead,n2", "--", "echo up"])
        XCTAssertEqual(unreachable.status, 255, unreachable.description)
        XCTAssertEqual(Set(unreachable.stdoutText.split(separator: "\n")), ["n1: up", "n2: up"], unreachable.description)
        XCTAssertTrue(unreachable.stderrText.contains("1 of 3 targets failed"), unreachable.description)
        XCTAssertTrue(unreachable.stderrText.contains("dead: "), unreachable.description)
    }

    func testASilentHostHoldsUpNobody() {
        let result = client.pss(["-o", "ConnectTimeout=2", "invoke", "--host", "silent,n1,n2", "--", "echo up"], limit: 30)
        XCTAssertFalse(result.timedOut, result.description)
        XCTAssertEqual(result.status, 255, result.description)
        XCTAssertEqual(Set(result.stdoutText.split(separator: "\n")), ["n1: up", "n2: up"], result.description)
        XCTAssertTrue(result.stderrText.contains("silent: "), result.description)
    }

    func testGroupedOutputFoldsTheTargets() {
        let result = client.pss(["invoke", "--group", "--host", "n[1-3]", "--", perHost(["echo same", "echo other", "echo same"])])
        XCTAssertEqual(result.status, 0, result.description)
        let text = result.stdoutText
        XCTAssertTrue(text.contains("\nn[1,3] (2)\n"), text)
        XCTAssertTrue(text.contains("\nn2 (1)\n"), text)
        XCTAssertEqual(text.components(separatedBy: "same\n").count, 2, "each distinct output once: \(text)")
        XCTAssertFalse(text.contains("n1: "), text)
    }

    func testOneJSONObjectPerTarget() throws {
        let result = client.pss(["invoke", "--json", "--host", "n[1-3],dead", "--", perHost(["echo a", "echo b; exit 2", "echo c"])])
        XCTAssertEqual(result.status, 255, result.description)
        let objects = try result.stdoutText.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(objects.count, 4, result.stdoutText)
        let byHost = Dictionary(uniqueKeysWithValues: objects.map { ($0["host"] as! String, $0) })
        XCTAssertEqual(byHost["n1"]?["stdout"] as? String, "a\n")
        XCTAssertEqual(byHost["n2"]?["exitCode"] as? Int, 2)
        XCTAssertEqual(byHost["n3"]?["exitCode"] as? Int, 0)
        XCTAssertTrue(byHost["dead"]?["exitCode"] is NSNull)
        XCTAssertNotNil(byHost["dead"]?["error"] as? String)
        XCTAssertNotNil(byHost["n1"]?["durationMs"] as? Int)
    }

    func testHostsFileAndDryRunConnectToNothing() throws {
        let file = client.scratch.file("hosts")
        try "# the web tier\nn1\n\n  n[2-3]  \nroot@dead:22\nn1\n".write(toFile: file, atomically: true, encoding: .utf8)
        let expected = "n1\nn2\nn3\nroot@dead:22\n"
        for arguments in [
            ["invoke", "--hosts-file", file, "--dry-run", "--", "true"],
            ["new", "--hosts-file", file, "--dry-run"],
            ["get", "--hosts-file", file, "--dry-run"],
            ["remove", "--all", "--hosts-file", file, "--dry-run"],
            ["job", "list", "--hosts-file", file, "--dry-run"],
        ] {
            let result = client.pss(arguments)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result)")
            XCTAssertEqual(result.stdoutText, expected, "\(arguments)")
        }
        XCTAssertEqual(client.pss(["disconnect", "--dry-run", "n[1-2]/s", "n3/s"]).stdoutText, "n1/s\nn2/s\nn3/s\n")
        let bad = client.pss(["invoke", "--host", "n[3-1]", "--", "true"])
        XCTAssertEqual(bad.status, 64, bad.description)
        XCTAssertTrue(bad.stderrText.contains("n[3-1]"), bad.description)
        for (text, message) in [("n1\nweb[1-\n", "line 2"), ("# only a comment\n\n", "no targets"), ("n1 n2\n", "line 1: one target a line")] {
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let badFile = client.pss(["get", "--hosts-file", file])
            XCTAssertEqual(badFile.status, 64, badFile.description)
            XCTAssertTrue(badFile.stderrText.contains(message), badFile.description)
        }
        try "n1   # the first\n\tn2\t# the second\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(client.pss(["get", "--hosts-file", file, "--dry-run"]).stdoutText, "n1\nn2\n", "a comment after the target")
        XCTAssertEqual(client.pss(["invoke", "--group", "--json", "--host", "n[1-2]", "--", "true"]).status, 64)
    }

    /// Every command appends + when it starts and - when it ends: the most running at once is read from the order.
    func testThrottleBoundsHowManyRunAtOnce() throws {
        let log = client.scratch.file("concurrency.log")
        let targets = (1...6).map { "root@n\(($0 - 1) % 3 + 1):\(servers[($0 - 1) % 3].port)" }
        // Six distinct targets, two per server (with and without an explicit user and port).
        let names = targets.enumerated().map { $0.offset < 3 ? "n\($0.offset + 1)" : $0.element }
        let result = client.pss(["invoke", "--throttle", "2", "--host", names.joined(separator: ","), "--", "echo + >> \(log); sleep 1; echo - >> \(log)"])
        XCTAssertEqual(result.status, 0, result.description)
        var running = 0, most = 0
        for event in try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") {
            running += event == "+" ? 1 : -1
            most = max(most, running)
        }
        XCTAssertEqual(most, 2, "at most --throttle at once, and that many in parallel")
    }

    func testSessionsOverAHostList() throws {
        XCTAssertEqual(client.pss(["new", "--name", "fleet", "n[1-3]"]).status, 0)
        for expected in ["1", "2"] {
            let result = client.pss(["invoke", "--session", "n[1-3]/fleet", "--", "count=$((${count:-0} + 1)); echo $count"])
            XCTAssertEqual(result.status, 0, result.description)
            XCTAssertEqual(
                Set(result.stdoutText.split(separator: "\n")), ["n1/fleet: \(expected)", "n2/fleet: \(expected)", "n3/fleet: \(expected)"],
                "each line prefixed with the target as written")
        }
        let listed = client.pss(["get", "--host", "n[1-3]", "--name", "fleet", "--json"])
        XCTAssertEqual(listed.stdoutText.split(separator: "\n").count, 3, listed.description)
        XCTAssertEqual(client.pss(["disconnect", "n[1-3]/fleet"]).status, 0)
        XCTAssertEqual(client.pss(["connect", "n[1-3]/fleet"]).status, 0)
        let jobs = client.pss(["invoke", "--as-job", "--job-name", "fleetjob", "--session", "n[1-3]/fleet", "--", "echo job"])
        XCTAssertEqual(jobs.status, 0, jobs.description)
        let jobList = client.pss(["job", "list", "--host", "n[1-3]", "--json"]).stdoutText.split(separator: "\n")
        // (A command received a moment ago may still be listed until the daemon lets its files go.)
        XCTAssertEqual(jobList.filter { $0.contains("\"name\":\"fleetjob\"") }.count, 3, "\(jobList)")
        XCTAssertEqual(client.pss(["remove", "n[1-3]/fleet"]).status, 0)
        XCTAssertEqual(client.pss(["get", "--host", "n[1-3]", "--name", "fleet"]).stdoutText.split(separator: "\n").count, 2, "the table's header only")
    }

    /// 100 targets (aliases of one sshd, each with a known_hosts name of its own) that all add their key to
    /// known_hosts at once (accept-new): every one runs, and the file gets each name once, whole.
    func testAHundredTargetsAddingKeysAtOnce() throws {
        let knownHosts = client.scratch.file("known_hosts_many")
        let config = client.scratch.file("config_many")
        let aliases = (1...100).map { "Host t\($0)\n    HostKeyAlias t\($0)\n" }.joined()
        let common = ["Host t*", "    StrictHostKeyChecking accept-new", "    UserKnownHostsFile \(knownHosts)"]
        try (aliases + (common + client.hostBlock(alias: "t*", port: servers[0].port).dropFirst()).joined(separator: "\n") + "\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let result = client.pssRaw(["-F", config, "invoke", "--host", "t[1-100]", "--", "echo ok"], limit: 300)
        XCTAssertEqual(result.status, 0, String(result.description.prefix(3000)))
        XCTAssertEqual(Set(result.stdoutText.split(separator: "\n")), Set((1...100).map { "t\($0): ok" }))
        let lines = try String(contentsOfFile: knownHosts, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 100)
        XCTAssertEqual(Set(lines.map { $0.split(separator: " ")[0] }), Set((1...100).map { "t\($0)" }), "each name once")
        XCTAssertTrue(lines.allSatisfy { $0.hasSuffix(servers[0].hostPublicKey().split(separator: " ")[1]) }, "each line whole")
    }

    /// Targets that share a known_hosts name (HostKeyAlias) and add it at once write it once.
    func testOneKeyAddedOnceWhenTargetsShareItsName() throws {
        let knownHosts = client.scratch.file("known_hosts_shared")
        let config = client.scratch.file("config_shared")
        let block = ["Host s*", "    HostKeyAlias shared-name", "    StrictHostKeyChecking accept-new", "    UserKnownHostsFile \(knownHosts)"]
        try ((block + client.hostBlock(alias: "s*", port: servers[1].port).dropFirst()).joined(separator: "\n") + "\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let result = client.pssRaw(["-F", config, "invoke", "--host", "s[1-12]", "--", "true"])
        XCTAssertEqual(result.status, 0, result.description)
        let lines = try String(contentsOfFile: knownHosts, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(lines)")
    }

    func testProgressOnATerminalAndNoneWhenPiped() {
        let command = "'\(PSSBinary.path)' -F '\(client.configPath)' invoke --host n[1-3] -- 'sleep 2; echo finished'; echo exit=$?"
        let terminal = TmuxTerminal(command: command, environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("3 running"), terminal.screen)
        XCTAssertTrue(terminal.waitFor("exit=0"), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("running"), "the progress line is gone at the end: \(terminal.screen)")
        XCTAssertTrue(terminal.screen.contains("n2: finished"), terminal.screen)

        let piped = client.pss(["invoke", "--host", "n[1-3]", "--", "echo finished"])
        XCTAssertEqual(piped.stderrText, "", "no progress when piped")

        // Ctrl-C stops the commands, and the progress line goes with pss.
        let pss = "'\(PSSBinary.path)' -F '\(client.configPath)'"
        let interrupted = TmuxTerminal(
            command: "trap : INT; \(pss) invoke --host n[1-3] -- 'sleep 30'; echo exit=$?", environment: client.baseEnvironment)
        XCTAssertTrue(interrupted.waitFor("3 running"), interrupted.screen)
        interrupted.press("C-c")
        XCTAssertTrue(interrupted.waitFor("exit=130"), interrupted.screen)
        XCTAssertFalse(interrupted.screen.contains("done, "), interrupted.screen)
        assertNoTemporarySessionLeft()
    }

    /// The temporary sessions of interrupted commands went with them (each client's last acknowledgement may reach
    /// its daemon a moment after pss has exited).
    private func assertNoTemporarySessionLeft(file: StaticString = #filePath, line: UInt = #line) {
        var left = ""
        XCTAssertTrue(
            Processes.waitUntil(limit: 10) {
                left = self.client.pss(["get", "--host", "n[1-3]", "--json"]).stdoutText
                return !left.contains("\"temporary\":true")
            }, "the interrupted commands' sessions went with them: \(left)", file: file, line: line)
    }

    /// Processes on this machine (the hosts) whose command line holds `marker`.
    private func remoteProcesses(_ marker: String) -> String {
        ProcessRunner.run("/usr/bin/pgrep", ["-af", marker]).stdoutText
            .split(separator: "\n").filter { !$0.contains("pgrep") && !$0.contains("tmux") && !$0.contains(" invoke ") }
            .joined(separator: "\n")
    }

    /// Ctrl-C on many targets does what it does on one: SIGINT to every remote command, and pss says so; no more
    /// targets start.
    func testCtrlCInterruptsEveryCommandAndSaysSo() {
        let pss = "'\(PSSBinary.path)' -F '\(client.configPath)'"
        let shown = TmuxTerminal(
            command: "trap : INT; \(pss) invoke --throttle 2 'n[1-3]' -- 'echo started; sleep 3191; echo not reached'; echo exit=$?",
            environment: client.baseEnvironment)
        XCTAssertTrue(Processes.waitUntil(limit: 30) { self.remoteProcesses("sleep 3191").split(separator: "\n").count == 2 }, shown.screen)
        shown.press("C-c")
        XCTAssertTrue(shown.waitFor("exit=130"), shown.screen)
        XCTAssertTrue(shown.screen.contains("SIGINT sent to the 2 commands running; no more targets start"), shown.screen)
        XCTAssertFalse(shown.screen.contains("not reached"), shown.screen)
        XCTAssertTrue(shown.screen.contains("n3: not started: pss was interrupted"), "the target the throttle held back: \(shown.screen)")
        XCTAssertEqual(remoteProcesses("sleep 3191"), "", "nothing of the commands is left on the hosts")
        let sessions = client.pss(["get", "--host", "n[1-3]", "--json"]).stdoutText
        XCTAssertFalse(sessions.contains("\"name\":\"temp"), "no temporary session is left: \(sessions)")
    }

    /// A second Ctrl-C leaves every command running, says how to collect each, and each is received later.
    func testASecondCtrlCLeavesEveryCommandRunning() throws {
        let gate = client.scratch.file("fanout-gate")
        // The command survives the first SIGINT (it traps it), so the second Ctrl-C finds it running.
        let script = client.scratch.write(
            "fanout-twice.sh", "trap 'echo got INT' INT; echo started; while [ ! -e \(gate) ]; do sleep 0.1; done; echo finished\n")
        let pss = "'\(PSSBinary.path)' -F '\(client.configPath)'"
        let shown = TmuxTerminal(
            command: "trap : INT; \(pss) invoke n[1-3] -- sh \(script); echo exit=$?", environment: client.baseEnvironment)
        XCTAssertTrue(shown.waitFor("n3: started") && shown.waitFor("n1: started") && shown.waitFor("n2: started"), shown.screen)
        shown.press("C-c")
        XCTAssertTrue(shown.waitFor("n1: got INT") && shown.waitFor("n2: got INT") && shown.waitFor("n3: got INT"), shown.screen)
        shown.press("C-c")
        XCTAssertTrue(shown.waitFor("exit=130"), shown.screen)
        XCTAssertTrue(shown.screen.contains("left 3 commands running"), shown.screen)
        XCTAssertTrue(shown.screen.contains("pss receive n1/temp"), shown.screen)
        FileManager.default.createFile(atPath: gate, contents: nil)
        for node in 1...3 {
            let sessions = client.pss(["get", "--host", "n\(node)", "--json"]).stdoutText.split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let temporary = try XCTUnwrap(sessions.compactMap { $0["name"] as? String }.first { $0.hasPrefix("temp") }, "\(sessions)")
            let received = client.pss(["receive", "n\(node)/\(temporary)"])
            XCTAssertEqual(received.status, 0, "\(received)")
            XCTAssertEqual(received.stdoutText, "finished\n", "what was shown was acknowledged: \(received)")
        }
    }

    /// Stdin goes to every target whole, read once; a target the throttle starts last gets all of it too.
    func testStdinReachesEveryTarget() {
        let input = randomBytes(3_000_000)
        let expected = SHA256.hex(input)
        let result = client.pss(["invoke", "--throttle", "2", "n[1-3]", "--", "sha256sum | cut -c1-64"], stdin: input, limit: 60)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText.split(separator: "\n").sorted(), ["n1: \(expected)", "n2: \(expected)", "n3: \(expected)"], "\(result)")
        let ignoring = client.pss(["invoke", "n[1-3]", "--", "echo ignored"], stdin: input, limit: 60)
        XCTAssertEqual(ignoring.status, 0, "a command that reads nothing ends all the same: \(ignoring)")
        XCTAssertEqual(
            client.pss(["invoke", "-n", "n[1-3]", "--", "wc -c"], stdin: input).stdoutText.split(separator: "\n").sorted(), ["n1: 0", "n2: 0", "n3: 0"])
    }

    /// An endless input nobody reads fills nothing: pss reads ahead of the slowest target only so far (64 MiB).
    func testEndlessInputNobodyReadsFillsNothing() throws {
        let command = "yes | '\(PSSBinary.path)' -F '\(client.configPath)' invoke 'n[1-3]' -- 'sleep 3; echo done'"
        let running = try ProcessRunner.start("/bin/sh", ["-c", command], environment: client.baseEnvironment)
        var largest: Int64 = 0
        let deadline = Date().addingTimeInterval(2.5)
        while Date() < deadline {
            for pid in ProcessRunner.run("/usr/bin/pgrep", ["-f", "invoke n\\[1-3\\] -- sleep 3"]).stdoutText.split(separator: "\n") {
                for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
                    let path = "/proc/\(pid)/fd/\(fd)"
                    guard (try? FileManager.default.destinationOfSymbolicLink(atPath: path))?.contains("pss-stdin") == true else { continue }
                    var info = stat()
                    if stat(path, &info) == 0 { largest = max(largest, Int64(info.st_size)) }
                }
            }
            usleep(100_000)
        }
        let result = running.wait(limit: 60)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText.split(separator: "\n").sorted(), ["n1: done", "n2: done", "n3: done"])
        XCTAssertGreaterThan(largest, 0, "the input was kept in a file")
        XCTAssertLessThan(largest, 80 << 20, "read ahead only so far")
    }

    /// An input that cannot be kept whole (here a full disk for the temporary file) is never ended as if it were
    /// complete: the commands reading it are interrupted, and pss says why.
    func testInputCutShortInterruptsRatherThanEnds() throws {
        let small = client.scratch.file("small-tmp")
        shell("mkdir -p '\(small)' && mount -t tmpfs -o size=1m tmpfs '\(small)'")
        defer { shell("umount '\(small)'") }
        var environment = client.baseEnvironment
        environment["TMPDIR"] = small
        let result = ProcessRunner.run(
            PSSBinary.path, ["-F", client.configPath, "invoke", "n[1-3]", "--", "cat > /dev/null; echo complete"], environment: environment,
            stdin: randomBytes(5_000_000), limit: 60)
        XCTAssertFalse(result.timedOut, "\(result)")
        XCTAssertEqual(result.status, 130, "\(result)")
        XCTAssertFalse(result.stdoutText.contains("complete"), "no command took part of it for the whole: \(result)")
        XCTAssertTrue(result.stderrText.contains("stdin was cut short"), result.stderrText)
        assertNoTemporarySessionLeft()
    }

    /// Hosts whose keys changed: one line a host in the summary, OpenSSH's warning said once, not once a host.
    func testChangedHostKeysAreOneLineAHostAndTheWarningOnce() {
        let impostor = client.scratch.file("impostor-key")
        shell("rm -f '\(impostor)' '\(impostor).pub'; ssh-keygen -q -t ed25519 -N '' -f '\(impostor)'")
        let key = (try? String(contentsOfFile: impostor + ".pub", encoding: .utf8))?.split(separator: " ").prefix(2).joined(separator: " ") ?? ""
        let known = client.scratch.write(
            "known_hosts_changed", servers.enumerated().map { "[127.0.0.\($0.offset + 2)]:\($0.element.port) \(key)\n" }.joined())
        let result = client.pss(["-o", "UserKnownHostsFile=\(known)", "invoke", "n[1-3]", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        for node in 1...3 { XCTAssertTrue(result.stderrText.contains("  n\(node): REMOTE HOST IDENTIFICATION HAS CHANGED"), result.stderrText) }
        XCTAssertEqual(result.stderrText.components(separatedBy: "SOMETHING NASTY").count - 1, 1, result.stderrText)
        XCTAssertFalse(result.stderrText.contains("@@@@"), result.stderrText)
        XCTAssertLessThan(result.stderrText.split(separator: "\n").count, 8, result.stderrText)
    }

    /// Several targets never prompt, even on a terminal: an unknown key under ask fails that target with the reason.
    func testAnUnknownKeyFailsItsTargetWithoutAPrompt() {
        let stranger = client.scratch.file("known_hosts_empty")
        XCTAssertTrue(FileManager.default.createFile(atPath: stranger, contents: nil))
        let command =
            "'\(PSSBinary.path)' -F '\(client.configPath)' -o StrictHostKeyChecking=ask -o UserKnownHostsFile=\(stranger) "
            + "invoke --host n1,n2 -- true; echo exit=$?"
        let terminal = TmuxTerminal(command: command, environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("exit=255"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("n1: "), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("(yes/no"), terminal.screen)
    }
}
