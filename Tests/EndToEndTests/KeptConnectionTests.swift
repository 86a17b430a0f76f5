import Foundation
import SessionWire
import TestSupport
import XCTest

/// The kept connection (ssh's ControlMaster, as pss applies it), against a real sshd: one login serves many
/// commands; the keeper killed, a key that changed, ControlMaster no, the linger, another user.
final class KeptConnectionTests: XCTestCase {
    nonisolated(unsafe) static var server: SSHServer!

    override class func setUp() {
        super.setUp()
        server = SSHServer()
    }

    override class func tearDown() {
        server = nil
        super.tearDown()
    }

    var server: SSHServer { Self.server }

    /// A client machine of its own per test (its own client directory, so its own keeper); removing what it left.
    private func makeClient() -> ClientMachine {
        let client = ClientMachine(servers: ["h1": server])
        addTeardownBlock {
            _ = client.pss(["remove", "--host", "h1", "--all"])
            for pid in self.keepers(of: client) { kill(pid, SIGKILL) }
        }
        return client
    }

    /// pss with connections kept: the test machines' config turns keeping off for everything else.
    private func kept(_ client: ClientMachine, _ arguments: [String], persist: String? = nil, stdin: Data? = nil, limit: Double = 60) -> ProcessResult {
        let persistOption = persist.map { ["-o", "ControlPersist=\($0)"] } ?? []
        return client.pss(["-o", "ControlMaster=auto"] + persistOption + arguments, stdin: stdin, limit: limit)
    }

    private func keepers(of client: ClientMachine) -> [Int32] {
        let directory = client.baseEnvironment["PSS_CLIENT_DIR"]!
        return Processes.matching("pss _keep$").filter { pid in
            let environment = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
            return environment.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "PSS_CLIENT_DIR=" + directory }
        }
    }

    /// The sockets of kept connections (not the keeper's own control socket).
    private func keptSockets(of client: ClientMachine) -> [String] {
        let directory = client.baseEnvironment["PSS_CLIENT_DIR"]! + "/keep"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.count == 32 }.map { directory + "/" + $0 }
    }

    private func logins() -> Int {
        server.log.components(separatedBy: "Accepted publickey").count - 1
    }

    private func startSession(_ client: ClientMachine, _ name: String, persist: String? = nil) {
        let created = kept(client, ["new", "h1", "--name", name], persist: persist)
        XCTAssertEqual(created.status, 0, "\(created)")
        XCTAssertTrue(Processes.waitUntil { !self.keptSockets(of: client).isEmpty }, "no connection was kept")
    }

    func testOneLoginServesManyCommands() {
        let client = makeClient()
        startSession(client, "many")
        let before = logins()
        for index in 1...5 {
            let result = kept(client, ["-v", "invoke", "--session", "h1/many", "--", "echo kept-\(index)"])
            XCTAssertEqual(result.status, 0, "\(result)")
            XCTAssertEqual(result.stdoutText, "kept-\(index)\n")
            XCTAssertTrue(result.stderrText.contains("using the kept connection to h1"), result.stderrText)
        }
        // Links the keeper gives again after a clean end: nothing of one command reaches the next.
        let refused = kept(client, ["invoke", "--session", "h1/absent", "--", "true"])
        XCTAssertEqual(refused.status, 254, "\(refused)")
        XCTAssertEqual(kept(client, ["invoke", "--session", "h1/many", "--", "exit 3"]).status, 3)
        let piped = client.pss(["-o", "ControlMaster=auto", "invoke", "--session", "h1/many", "--", "cat"], stdin: Data("through stdin\n".utf8))
        XCTAssertEqual(piped.stdoutText, "through stdin\n", "\(piped)")
        let job = kept(client, ["invoke", "--session", "h1/many", "--as-job", "--job-name", "echoed", "--", "echo from-a-job"])
        XCTAssertEqual(job.status, 0, "\(job)")
        let waited = kept(client, ["job", "wait", "echoed", "--session", "h1/many"])
        XCTAssertEqual(waited.status, 0, "\(waited)")
        XCTAssertEqual(kept(client, ["job", "receive", "echoed", "--session", "h1/many"]).stdoutText, "from-a-job\n")
        XCTAssertEqual(kept(client, ["invoke", "--session", "h1/many", "--", "echo still-clean"]).stdoutText, "still-clean\n")
        let listed = kept(client, ["get", "--host", "h1"])
        XCTAssertTrue(listed.stdoutText.contains("many"), "\(listed)")
        let output = kept(client, ["invoke", "--session", "h1/many", "--", "head -c 3000000 /dev/zero | od -An -v | wc -l"])
        XCTAssertEqual(output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "187500", "\(output)")
        XCTAssertEqual(logins(), before, "the commands logged in again:\n\(server.log)")
        XCTAssertEqual(keepers(of: client).count, 1)
    }

    /// Input through the kept connection arrives whole and ends: a short write to the keeper's socket used to
    /// wait for the host to speak, which a command reading its stdin never does (5 MB hung after 196 KiB, 1 MiB
    /// never reached end of file). Into a session and a temporary one, from a pipe, 20 times each size.
    func testInputArrivesWholeThroughTheKeptConnection() {
        let client = makeClient()
        startSession(client, "input")
        let before = logins()
        for size in [5_000_000, 50_000_000] {
            let input = randomBytes(size)
            let expected = SHA256.hex(input) + "  -\n"
            for round in 1...20 {
                // sha256sum answers only at end of file: a hang is the limit, a lost byte a wrong sum.
                let target = round % 2 == 0 ? ["--session", "h1/input"] : ["--host", "h1"]
                let result = kept(client, ["invoke"] + target + ["--", "sha256sum"], stdin: input, limit: 60)
                XCTAssertEqual(result.status, 0, "\(size) bytes, round \(round), \(target): \(result)")
                XCTAssertEqual(result.stdoutText, expected, "\(size) bytes, round \(round), \(target)")
                if result.status != 0 { return }
            }
        }
        XCTAssertEqual(logins(), before, "every command went through the kept connection")
    }

    /// A command whose client went away while it forwarded stdin reads end of file: nobody can send the rest, and a
    /// receive would otherwise wait forever with it.
    func testInputEndsWhenItsClientGoesAway() throws {
        let client = makeClient()
        startSession(client, "cut")
        // stdin stays open (a pipe nobody writes to): the command waits in cat until its client is killed.
        let scratch = Scratch("cut")
        XCTAssertEqual(mkfifo(scratch.file("stdin"), 0o600), 0)
        let writer = open(scratch.file("stdin"), O_RDWR)
        defer { close(writer) }
        XCTAssertEqual(write(writer, "first line\n", 11), 11)
        let process = try ProcessRunner.start(
            PSSBinary.path,
            ["-F", client.configPath, "-o", "ControlMaster=auto", "invoke", "--session", "h1/cut", "--", "cat; echo after-eof"],
            environment: client.baseEnvironment, stdinFile: scratch.file("stdin"), stdoutFile: scratch.file("stdout"))
        XCTAssertTrue(Processes.waitUntil { scratch.read("stdout").contains("first line") }, "the command did not start")
        process.signal(SIGKILL)
        _ = process.wait(limit: 10)
        let received = kept(client, ["receive", "h1/cut"], limit: 30)
        XCTAssertEqual(received.status, 0, "\(received)")
        XCTAssertTrue(received.stdoutText.hasSuffix("after-eof\n"), "\(received)")
    }

    func testOneKeeperKeepsAFleet() {
        let client = makeClient()
        for alias in ["h2", "h3"] { client.addHost(alias: alias, server: server, port: server.port) }
        addTeardownBlock { _ = client.pss(["remove", "--host", "h[2-3]", "--all"]) }
        // One host daemon behind three names: a session name each.
        for index in 1...3 { XCTAssertEqual(kept(client, ["new", "h\(index)", "--name", "fleet\(index)"]).status, 0) }
        XCTAssertTrue(Processes.waitUntil { self.keptSockets(of: client).count == 3 }, "\(self.keptSockets(of: client))")
        XCTAssertEqual(keepers(of: client).count, 1)
        let before = logins()
        let result = kept(client, ["invoke", "--session", "h1/fleet1", "--session", "h2/fleet2", "--session", "h3/fleet3", "--", "echo kept"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(Set(result.stdoutText.split(separator: "\n")), ["h1/fleet1: kept", "h2/fleet2: kept", "h3/fleet3: kept"])
        XCTAssertEqual(logins(), before)
    }

    func testEnterThroughTheKeptConnection() {
        let client = makeClient()
        startSession(client, "entered")
        let before = logins()
        let command = "'\(PSSBinary.path)' -F '\(client.configPath)' -o ControlMaster=auto enter h1/entered; echo \"[exit $?]\""
        let terminal = TmuxTerminal(command: command, environment: client.baseEnvironment)
        XCTAssertTrue(terminal.waitFor("root@"), terminal.screen)
        terminal.typeLine("echo entered-$((20 + 22))")
        XCTAssertTrue(terminal.waitFor("entered-42"), terminal.screen)
        terminal.press("C-\\\\")
        XCTAssertTrue(terminal.waitFor("[exit 0]"), terminal.screen)
        // The link the terminal used is not bound to it any more: the next command runs on.
        let after = kept(client, ["invoke", "--session", "h1/entered", "--", "echo after-enter"])
        XCTAssertEqual(after.stdoutText, "after-enter\n", "\(after)")
        XCTAssertEqual(logins(), before)
    }

    /// Streams 400 numbered lines from `session` through the kept connection; `interrupt` runs once 50 have been
    /// printed; the output must come whole and the command end with 0. Returns pss's stderr.
    private func streamThrough(_ client: ClientMachine, _ session: String, interrupt: () -> Void) -> String {
        // Warm: the keeper serves this one.
        XCTAssertTrue(kept(client, ["-v", "invoke", "--session", session, "--", "true"]).stderrText.contains("using the kept connection"))
        let marker = client.scratch.file("streaming-\(UUID().uuidString)")
        let streaming = try! ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", client.configPath, "-o", "ControlMaster=auto", "invoke", "--session", session, "--",
                "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line-$i; [ $i = 50 ] && touch '\(marker)'; sleep 0.01; done",
            ],
            environment: client.baseEnvironment)
        XCTAssertTrue(Processes.waitUntil { access(marker, F_OK) == 0 })
        interrupt()
        let result = streaming.wait(limit: 60)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, (1...400).map { "line-\($0)\n" }.joined(), result.stderrText)
        return result.stderrText
    }

    func testKeeperKilledMidStreamAndBetweenCommands() {
        let client = makeClient()
        startSession(client, "killed")
        _ = streamThrough(client, "h1/killed") { for pid in keepers(of: client) { kill(pid, SIGKILL) } }
        // Between commands: the next one connects on its own (and asks for a new keeper).
        for pid in keepers(of: client) { kill(pid, SIGKILL) }
        let next = kept(client, ["invoke", "--session", "h1/killed", "--", "echo after"])
        XCTAssertEqual(next.status, 0, "\(next)")
        XCTAssertEqual(next.stdoutText, "after\n")
    }

    /// The kept connection itself cut mid-stream (through a proxy that resets it): the command goes on, whole.
    func testKeptConnectionCutMidStream() {
        let client = makeClient()
        let proxy = TCPProxy(targetPort: server.port)
        defer { proxy.stop() }
        client.addHost(alias: "cut", server: server, port: proxy.port)
        addTeardownBlock { _ = client.pss(["remove", "--host", "cut", "--all"]) }
        XCTAssertEqual(kept(client, ["new", "cut", "--name", "cut"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { !self.keptSockets(of: client).isEmpty })
        let stderr = streamThrough(client, "cut/cut") { proxy.resetAll() }
        XCTAssertTrue(stderr.contains("reconnected"), stderr)
    }

    /// A host that takes no more channels (MaxSessions): the command the keeper cannot serve connects on its own,
    /// and those running through the keeper go on.
    func testALinkRefusedByTheHostEndsNothingElse() {
        var options = SSHServer.Options()
        options.extraConfig = ["MaxSessions 2"]
        let limited = SSHServer(options)
        let client = ClientMachine(servers: ["m": limited])
        addTeardownBlock {
            _ = client.pss(["remove", "--host", "m", "--all"])
            for pid in self.keepers(of: client) { kill(pid, SIGKILL) }
        }
        XCTAssertEqual(kept(client, ["new", "m", "--name", "a"]).status, 0)
        XCTAssertEqual(kept(client, ["new", "m", "--name", "b"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { !self.keptSockets(of: client).isEmpty })
        let gate = client.scratch.file("gate")
        let slow = { (session: String) in
            try! ProcessRunner.start(
                PSSBinary.path,
                [
                    "-F", client.configPath, "-o", "ControlMaster=auto", "invoke", "--session", "m/\(session)", "--",
                    "echo started-\(session); touch '\(gate)-\(session)'; while [ ! -e '\(gate)' ]; do sleep 0.05; done; echo done-\(session)",
                ],
                environment: client.baseEnvironment)
        }
        let first = slow("a")
        let second = slow("b")
        XCTAssertTrue(Processes.waitUntil { access(gate + "-a", F_OK) == 0 && access(gate + "-b", F_OK) == 0 })
        // Both channels of the kept connection are taken: the third command is refused a link, and goes direct.
        let third = kept(client, ["-v", "invoke", "--host", "m", "--", "echo third"])
        XCTAssertEqual(third.stdoutText, "third\n", "\(third)")
        shell("touch '\(gate)'")
        XCTAssertEqual(first.wait(limit: 60).stdoutText, "started-a\ndone-a\n")
        XCTAssertEqual(second.wait(limit: 60).stdoutText, "started-b\ndone-b\n")
        XCTAssertEqual(keepers(of: client).count, 1, "the keeper went with the refusal")
        XCTAssertTrue(kept(client, ["-v", "invoke", "--session", "m/a", "--", "true"]).stderrText.contains("using the kept connection"))
    }

    /// StrictHostKeyChecking no with no known_hosts: the kept connection is trusted as a new one would be, not
    /// dropped at each command.
    func testKeyTakenWithoutKnownHostsStillServes() {
        let client = makeClient()
        let loose = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        XCTAssertEqual(kept(client, loose + ["new", "h1", "--name", "loose"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { !self.keptSockets(of: client).isEmpty })
        let before = logins()
        for _ in 1...3 {
            let result = kept(client, loose + ["-v", "invoke", "--session", "h1/loose", "--", "true"])
            XCTAssertTrue(result.stderrText.contains("using the kept connection"), result.stderrText)
        }
        XCTAssertEqual(logins(), before)
    }

    /// A ControlPath two client directories share: one client's keeper never speaks for the other.
    func testAControlPathSharedByTwoClientsServesOne() {
        let client = makeClient()
        let shared = ["-o", "ControlPath=\(client.scratch.file("shared-cm"))"]
        XCTAssertEqual(kept(client, shared + ["new", "h1", "--name", "sharedpath"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { access(client.scratch.file("shared-cm") + ".pss", F_OK) == 0 })
        var other = client.baseEnvironment
        other["PSS_CLIENT_DIR"] = client.scratch.file("other-client")
        let result = ProcessRunner.run(
            PSSBinary.path, ["-F", client.configPath, "-o", "ControlMaster=auto"] + shared + ["-v", "invoke", "--host", "h1", "--", "echo mine"],
            environment: other)
        XCTAssertEqual(result.stdoutText, "mine\n", "\(result)")
        XCTAssertFalse(result.stderrText.contains("using the kept connection"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("was not used"), result.stderrText)
    }

    func testChangedHostKeyIsRefusedOnTheNextCommand() {
        let client = makeClient()
        startSession(client, "rekeyed")
        XCTAssertTrue(kept(client, ["-v", "invoke", "--session", "h1/rekeyed", "--", "true"]).stderrText.contains("using the kept connection"))
        // known_hosts now names another key for the host: the kept connection's is no longer the one trusted.
        let other = Scratch("other-key")
        shell("ssh-keygen -q -t ed25519 -N '' -f '\(other.file("key"))'")
        let otherKey = other.read("key.pub").split(separator: " ").prefix(2).joined(separator: " ")
        try! "[127.0.0.1]:\(server.port) \(otherKey)\n".write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
        let refused = kept(client, ["invoke", "--session", "h1/rekeyed", "--", "echo should-not-run"])
        XCTAssertEqual(refused.status, 255, "\(refused)")
        XCTAssertFalse(refused.stdoutText.contains("should-not-run"))
        XCTAssertTrue(refused.stderrText.contains("HOST IDENTIFICATION HAS CHANGED") || refused.stderrText.lowercased().contains("changed"), refused.stderrText)
        XCTAssertTrue(Processes.waitUntil { self.keptSockets(of: client).isEmpty }, "the keeper still serves the host")
        try! (server.knownHostsLine() + "\n").write(toFile: client.knownHostsPath, atomically: true, encoding: .utf8)
    }

    func testControlMasterNoConnectsEveryTime() {
        let client = makeClient()
        XCTAssertEqual(client.pss(["new", "h1", "--name", "direct"]).status, 0)
        let before = logins()
        for _ in 1...3 {
            let result = client.pss(["-v", "invoke", "--session", "h1/direct", "--", "true"])
            XCTAssertEqual(result.status, 0, "\(result)")
            XCTAssertFalse(result.stderrText.contains("kept connection"), result.stderrText)
        }
        XCTAssertEqual(logins(), before + 3)
        XCTAssertTrue(keepers(of: client).isEmpty)
        XCTAssertTrue(keptSockets(of: client).isEmpty)
    }

    func testLingerEndsTheKeeperAfterTheLastSession() {
        let client = makeClient()
        startSession(client, "linger", persist: "1")
        XCTAssertEqual(kept(client, ["invoke", "--session", "h1/linger", "--", "true"], persist: "1").status, 0)
        XCTAssertFalse(keepers(of: client).isEmpty)
        XCTAssertEqual(kept(client, ["remove", "h1/linger"], persist: "1").status, 0)
        XCTAssertTrue(Processes.waitUntil { self.keepers(of: client).isEmpty }, "the keeper outlived its linger")
        XCTAssertTrue(keptSockets(of: client).isEmpty)
        XCTAssertNil(Processes.daemon(of: server).flatMap { pid in Processes.waitUntil { !Processes.isRunning(pid) } ? nil : pid })
    }

    /// A keeper whose client directory is deleted ends (with ControlPersist=yes, it would have kept on forever), and
    /// its links ahead of time start no host daemon again once the host's daemon is ended.
    func testAKeeperEndsWhenItsDirectoryIsGone() {
        let client = makeClient()
        XCTAssertEqual(kept(client, ["invoke", "--host", "h1", "--", "true"], persist: "yes").status, 0)
        XCTAssertTrue(Processes.waitUntil { !self.keptSockets(of: client).isEmpty })
        let keepers = keepers(of: client)
        XCTAssertEqual(keepers.count, 1)
        shell("rm -rf '\(client.baseEnvironment["PSS_CLIENT_DIR"]!)'")
        XCTAssertTrue(Processes.waitUntil(limit: 15) { keepers.allSatisfy { !Processes.isRunning($0) } }, "the keeper outlived its directory")
        if let daemon = Processes.daemon(of: server) { kill(daemon, SIGTERM) }
        XCTAssertTrue(Processes.waitUntil { Processes.daemon(of: self.server) == nil })
        usleep(3_000_000)  // what a kept link would have done meanwhile: start the daemon again
        XCTAssertNil(Processes.daemon(of: server), "a link of the gone keeper started the host daemon again")
    }

    func testControlPersistKeepsOneOffCommands() {
        let client = makeClient()
        let first = kept(client, ["-v", "invoke", "--host", "h1", "--", "true"], persist: "2")
        XCTAssertEqual(first.status, 0)
        XCTAssertTrue(Processes.waitUntil { !self.keptSockets(of: client).isEmpty }, first.stderrText)
        let second = kept(client, ["-v", "invoke", "--host", "h1", "--", "echo one-off"], persist: "2")
        XCTAssertEqual(second.stdoutText, "one-off\n", "\(second)")
        XCTAssertTrue(second.stderrText.contains("using the kept connection"), second.stderrText)
        XCTAssertTrue(Processes.waitUntil { self.keepers(of: client).isEmpty }, "ControlPersist=2 kept it on")
    }

    func testAnotherUserCannotUseTheKeeper() {
        let client = makeClient()
        startSession(client, "mine")
        let socket = keptSockets(of: client)[0]
        let user = "pss-keep-other"
        LocalAccount.ensure(user, password: "unused-\(getpid())")
        addTeardownBlock { LocalAccount.remove(user) }
        // Permissions loosened as a careless admin might: SO_PEERCRED still turns the other user away.
        shell("chmod 755 '\(client.scratch.file("pss-client"))' '\(client.scratch.file("pss-client"))/keep' && chmod 777 '\(socket)'")
        let asOther = ProcessRunner.run(
            "/usr/bin/setpriv", ["--reuid", user, "--regid", user, "--clear-groups", "/usr/bin/socat", "-t", "5", "-", "UNIX-CONNECT:" + socket],
            stdin: Data("L".utf8), limit: 20)
        XCTAssertFalse(asOther.stdoutText.contains("ok"), "\(asOther)")
        XCTAssertEqual(asOther.stdoutText, "", "\(asOther)")
        // And a client does not talk to a keeper socket another user serves (ControlPath pointing at it).
        let planted = client.scratch.file("planted")
        shell("mkdir -p '\(planted)' && chmod 777 '\(planted)'")
        let fake = try! ProcessRunner.start(
            "/usr/bin/setpriv",
            ["--reuid", user, "--regid", user, "--clear-groups", "/usr/bin/socat", "UNIX-LISTEN:\(planted)/cm.pss,fork", "SYSTEM:echo ok 5"])
        defer { fake.signal(SIGKILL) }
        XCTAssertTrue(Processes.waitUntil { access(planted + "/cm.pss", F_OK) == 0 })
        let result = kept(client, ["-v", "-o", "ControlPath=\(planted)/cm", "invoke", "--session", "h1/mine", "--", "echo direct"])
        XCTAssertEqual(result.stdoutText, "direct\n", "\(result)")
        XCTAssertTrue(result.stderrText.contains("not by you"), result.stderrText)
    }
}
