import Foundation
import SessionWire
import TestSupport
import Synchronization
import XCTest

/// The host daemon against what a full disk, a greedy client, damaged files and a hostile environment do to it:
/// it loses no output, grows no queue, keeps starting, holds no needless descriptor and leaks nothing of the
/// connection that started it.
final class DaemonRobustnessTests: HostFixtureTestCase {
    private var daemonLog: String { (try? String(contentsOfFile: server.hostDirectory + "/run/daemon.log", encoding: .utf8)) ?? "" }

    private func jobs(_ client: ClientMachine, _ target: [String]) -> [[String: Any]] {
        client.pss(["job", "list"] + target + ["--json"]).stdoutText.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Waits until no daemon serves the fixture's host (its sessions removed), so the next command starts one.
    private func stopDaemon() {
        _ = client.pss(["remove", "--host", "h1", "--all"])
        XCTAssertTrue(Processes.waitUntil { Processes.daemon(of: self.server) == nil })
    }

    // MARK: A full disk

    /// A host whose host directory is on a 24 MB tmpfs of its own, and a client with a session `h/s` there.
    private func smallDiskHost() -> (Tmpfs, SSHServer, ClientMachine) {
        let tmpfs = Tmpfs(megabytes: 24)
        var options = SSHServer.Options()
        options.hostDirectory = tmpfs.path + "/pss-host"
        let host = SSHServer(options)
        let client = ClientMachine(servers: ["h": host])
        XCTAssertEqual(client.pss(["new", "h", "--name", "s"]).status, 0)
        return (tmpfs, host, client)
    }

    /// Output the disk cannot take is held, the command paused, and its end not reported until every byte is
    /// stored; once space returns the output arrives whole and in order (it lost a chunk, reported the job
    /// Completed, and shifted what followed).
    func testFullDiskHoldsOutputUntilSpaceReturns() {
        let (tmpfs, host, client) = smallDiskHost()
        defer { withExtendedLifetime(host) {} }  // its sshd, to the end
        let expected = (1...300_000).map { "\($0)\n" }.joined()

        let filler = tmpfs.fill(leaving: 192)
        let started = client.pss(["invoke", "--session", "h/s", "--as-job", "--job-name", "big", "--", "seq 1 300000"])
        XCTAssertEqual(started.status, 0, "\(started)")
        // The disk fills up long before seq's 2 MB are out: from then on the job cannot have ended.
        XCTAssertTrue(Processes.waitUntil { tmpfs.freeKiB == 0 }, "\(tmpfs.freeKiB) KiB free")
        XCTAssertEqual(
            jobs(client, ["--session", "h/s"]).first?["state"] as? String, "Running",
            "a command whose output is held has not ended for anyone")

        unlink(filler)
        let waited = client.pss(["job", "wait", "big", "--session", "h/s"])
        XCTAssertEqual(waited.status, 0, "\(waited)")
        let received = client.pss(["job", "receive", "big", "--session", "h/s"])
        XCTAssertEqual(received.status, 0, "\(received.stderrText)")
        XCTAssertEqual(received.stdout.count, expected.utf8.count)
        XCTAssertTrue(received.stdoutText == expected, "the output differs from seq's")
        XCTAssertEqual(client.pss(["remove", "h/s"]).status, 0)
    }

    /// A command streamed while the disk is full: the client is told why it waits, and gets everything once space
    /// returns.
    func testStreamedCommandIsToldOfAFullDisk() throws {
        let (tmpfs, host, client) = smallDiskHost()
        defer { withExtendedLifetime(host) {} }  // its sshd, to the end
        let filler = tmpfs.fill(leaving: 192)
        let output = client.scratch.file("streamed")
        let running = try ProcessRunner.start(
            PSSBinary.path,
            [
                "-F", client.configPath, "invoke", "--session", "h/s", "--",
                "seq 1 300000",
            ],
            environment: client.baseEnvironment, stdoutFile: output)
        XCTAssertTrue(Processes.waitUntil { tmpfs.freeKiB == 0 }, "\(tmpfs.freeKiB) KiB free")
        unlink(filler)
        let result = running.wait(limit: 60)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stderrText.contains("cannot store this command's output (No space left on device"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("stores this command's output again"), result.stderrText)
        XCTAssertTrue(client.scratch.read("streamed") == (1...300_000).map { "\($0)\n" }.joined(), "the streamed output differs")
        XCTAssertEqual(client.pss(["remove", "h/s"]).status, 0)
    }

    /// A job larger than the space left, received while the disk is full and nothing else frees any: what the
    /// receive acknowledges becomes room for the rest, whatever its size, and the receive ends whole. (Freed in
    /// whole 2 MiB folios only, 2 MB received of a 3 MB job freed nothing, and the receive waited forever.)
    func testAFullDiskReceiveEndsWholeOnTheRoomItsOwnOutputLeaves() throws {
        let (tmpfs, host, client) = smallDiskHost()
        defer { withExtendedLifetime(host) {} }  // its sshd, to the end
        let filler = tmpfs.fill(leaving: 2048)
        defer { unlink(filler) }
        let expected = (1...450_000).map { "\($0)\n" }.joined()  // 3.1 MB
        XCTAssertEqual(client.pss(["invoke", "--session", "h/s", "--as-job", "--job-name", "big", "--", "seq 1 450000"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { tmpfs.freeKiB == 0 }, "\(tmpfs.freeKiB) KiB free")
        let received = client.pss(["receive", "h/s", "--job", "big"], limit: 90)
        XCTAssertEqual(received.status, 0, String(received.stderrText.prefix(2000)))
        XCTAssertEqual(received.stdout.count, expected.utf8.count)
        XCTAssertTrue(received.stdoutText == expected, "the output differs from seq's")
    }

    /// A receive that a full disk holds up, with nothing it receives making room (`--keep` acknowledges nothing),
    /// ends after `stallSeconds` with the reason and 254 instead of waiting silently; once space is freed, the next
    /// receive gets everything.
    func testAReceiveAFullDiskStallsEndsSayingWhy() throws {
        let (tmpfs, host, client) = smallDiskHost()
        defer { withExtendedLifetime(host) {} }  // its sshd, to the end
        let filler = tmpfs.fill(leaving: 1024)
        let expected = (1...450_000).map { "\($0)\n" }.joined()
        XCTAssertEqual(client.pss(["invoke", "--session", "h/s", "--as-job", "--job-name", "big", "--", "seq 1 450000"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { tmpfs.freeKiB == 0 }, "\(tmpfs.freeKiB) KiB free")
        let stalled = client.pss(["receive", "h/s", "--job", "big", "--keep"], limit: 90)
        XCTAssertEqual(stalled.status, 254, String(stalled.stderrText.prefix(1000)))
        XCTAssertTrue(stalled.stderrText.contains("nothing received for 30 s made room"), stalled.stderrText)
        XCTAssertTrue(stalled.stderrText.contains("receive it again (pss receive s) once space is freed"), stalled.stderrText)
        unlink(filler)
        let received = client.pss(["receive", "h/s", "--job", "big"], limit: 60)
        XCTAssertEqual(received.status, 0, String(received.stderrText.prefix(1000)))
        XCTAssertTrue(received.stdoutText == expected, "the output differs from seq's")
    }

    /// A shell started while another command's output waits on a link (a descriptor of its spool queued there)
    /// inherits no descriptor of that spool, nor do its commands.
    func testAShellStartedMeanwhileHoldsNoSpoolDescriptor() throws {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "big"]).status, 0)
        defer { _ = client.pss(["remove", "h1/big"]); _ = client.pss(["remove", "h1/other"]) }
        XCTAssertEqual(client.pss(["invoke", "--session", "h1/big", "--as-job", "--job-name", "j", "--", "seq 1 3000000"]).status, 0)
        XCTAssertEqual(client.pss(["job", "wait", "j", "--session", "h1/big"]).status, 0)
        // A receiver whose output nobody reads yet: what the daemon sends backs up, spliced from the spool.
        let receiver = try ProcessRunner.start(
            PSSBinary.path, ["-F", client.configPath, "receive", "h1/big", "--job", "j", "--keep"], environment: client.baseEnvironment)
        defer { receiver.signal(SIGKILL); _ = receiver.wait(limit: 10) }
        let daemon = try XCTUnwrap(Processes.daemon(of: server))
        let spoolDescriptors = {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon)/fd")) ?? []).filter {
                ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon)/fd/\($0)")) ?? "").hasSuffix("/stdout")
            }.count
        }
        XCTAssertTrue(Processes.waitUntil { spoolDescriptors() >= 2 }, "a descriptor of the spool queued on the link")
        XCTAssertEqual(client.pss(["new", "h1", "--name", "other"]).status, 0)
        let seen = client.pss(["invoke", "--session", "h1/other", "--", "ls -l /proc/self/fd/"])
        XCTAssertEqual(seen.status, 0, "\(seen)")
        XCTAssertFalse(seen.stdoutText.contains("/commands/"), seen.stdoutText)
        XCTAssertFalse(seen.stdoutText.contains("/stdout"), seen.stdoutText)
    }

    /// A file size limit (limits.conf's fsize) makes spool writes fail with EFBIG: the output is held as on a full
    /// disk (SIGXFSZ killed the daemon).
    func testFileSizeLimitHoldsOutputAndTheDaemonLives() throws {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "fsize"]).status, 0)
        defer { _ = client.pss(["remove", "h1/fsize"]) }
        let daemon = try XCTUnwrap(Processes.daemon(of: server))
        XCTAssertEqual(ProcessRunner.run("/usr/bin/prlimit", ["--pid", "\(daemon)", "--fsize=1000000:"]).status, 0)
        XCTAssertEqual(client.pss(["invoke", "--session", "h1/fsize", "--as-job", "--job-name", "big", "--", "seq 1 400000"]).status, 0)
        XCTAssertTrue(Processes.waitUntil { self.daemonLog.contains("output held: File too large") }, daemonLog)
        XCTAssertTrue(Processes.isRunning(daemon))
        XCTAssertEqual(jobs(client, ["--session", "h1/fsize"]).first?["state"] as? String, "Running")
        XCTAssertEqual(ProcessRunner.run("/usr/bin/prlimit", ["--pid", "\(daemon)", "--fsize=unlimited:"]).status, 0)
        XCTAssertEqual(client.pss(["job", "wait", "big", "--session", "h1/fsize"]).status, 0)
        let received = client.pss(["job", "receive", "big", "--session", "h1/fsize"])
        XCTAssertTrue(received.stdoutText == (1...400_000).map { "\($0)\n" }.joined(), "the output differs from seq's")
    }

    // MARK: A client that never reads

    /// A client that sends requests and never reads their answers: the daemon stops reading its requests once
    /// answers back up, instead of queueing them without limit (200 requests grew it from 16 MB to 637 MB).
    func testClientThatNeverReadsCannotGrowTheDaemon() throws {
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--", "true"]).status, 0)  // the helper is installed
        let helpers = try FileManager.default.contentsOfDirectory(atPath: server.hostDirectory + "/bin").filter { $0.hasPrefix("pss-host-") }
        XCTAssertEqual(helpers.count, 1)
        var requests = ClientMessage.hello(version: WireProtocol.version, clientID: UUID().uuidString.lowercased()).encoded()
        for _ in 0..<40 {
            requests += ClientMessage.newSession(name: "", idleTimeoutSeconds: 600, outputBuffering: .block, maxBuffer: 1 << 20, loadsProfile: false).encoded()
        }
        let listing = ClientMessage.listSessions.encoded()
        for _ in 0..<200_000 { requests += listing }  // 1 MB: several reads of the daemon's buffer, 1.2 GB of answers
        let file = client.scratch.file("requests")
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(requests)))

        // The relay, as sshd would run it, its stdin the requests and its stdout a pipe nobody reads.
        let relay = try ProcessRunner.start(
            server.hostDirectory + "/bin/" + helpers[0], ["relay"],
            environment: ["PSS_HOST_DIR": server.hostDirectory], stdinFile: file)
        defer { relay.signal(SIGKILL); _ = relay.wait(limit: 10); stopDaemon() }
        var daemon: Int32?
        XCTAssertTrue(
            Processes.waitUntil {
                daemon = Processes.daemon(of: self.server); return daemon != nil
            })
        // The daemon works through what it takes on, then rests: its CPU time stops moving. (Without the limit it
        // works on for a minute and ends holding about a gigabyte.)
        var lastTicks = -1
        XCTAssertTrue(
            Processes.waitUntil(limit: 120) {
                let ticks = Processes.cpuTicks(daemon!)
                defer { lastTicks = ticks }
                usleep(1_000_000)
                return ticks == lastTicks
            }, "the daemon never rested")
        // How far it read the requests: the position of its descriptor on the file (the relay handed it over).
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon!)/fd")) ?? []
        let fd = fds.first { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon!)/fd/\($0)")) == file }
        let info = fd.flatMap { try? String(contentsOfFile: "/proc/\(daemon!)/fdinfo/\($0)", encoding: .utf8) } ?? ""
        let position = Int(info.split(separator: "\n").first { $0.hasPrefix("pos:") }?.split(separator: "\t").last ?? "") ?? -1
        XCTAssertLessThan(position, requests.count, "the daemon read every request while nothing was read back")
        let resident = Processes.residentKiB(daemon!)
        XCTAssertLessThan(resident, 48 * 1024, "the daemon holds \(resident) KiB")
    }

    // MARK: A daemon ending

    /// Relays arriving while the daemon ends (it ends as soon as it holds nothing, after each of them): every one
    /// is served, by it or by the next daemon, and none is killed by SIGPIPE (1 target in 2,000 of a fan-out over
    /// 1,000 aliases of 20 sshd was: "helper exited with signaled(PIPE)").
    func testRelaysArrivingAsTheDaemonEndsAreAllServed() throws {
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--", "true"]).status, 0)  // the helper is installed
        let helper = try XCTUnwrap(
            try FileManager.default.contentsOfDirectory(atPath: server.hostDirectory + "/bin").first { $0.hasPrefix("pss-host-") })
        let hello = Data(ClientMessage.hello(version: WireProtocol.version, clientID: UUID().uuidString.lowercased()).encoded())
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            for _ in 0..<50 {
                let relay = ProcessRunner.run(
                    server.hostDirectory + "/bin/" + helper, ["relay"], environment: ["PSS_HOST_DIR": server.hostDirectory], stdin: hello, limit: 30)
                if relay.status != 0 || !relay.stdoutText.hasPrefix("pss-host relay ready") {
                    failures.withLock { $0.append(relay.description.replacingOccurrences(of: "\n", with: " | ")) }
                }
            }
        }
        let lost = failures.withLock { $0 }
        XCTAssertTrue(lost.isEmpty, "\(lost.count) of 300 relays lost: \(lost.first ?? "")")
        XCTAssertTrue(Processes.waitUntil { Processes.daemon(of: self.server) == nil }, "the last daemon ended")
    }

    // MARK: Damaged and hostile files

    private func plantRecord(id: String, fields: [String: String]) -> String {
        let directory = server.sessionsDirectory + "/" + id
        shell("mkdir -p '\(directory)/commands'")
        let text = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        try! text.write(toFile: directory + "/record", atomically: true, encoding: .utf8)
        return directory
    }

    private func record(id: String, name: String) -> [String: String] {
        [
            "id": id, "name": name, "owner": "root", "state": "Opened", "createdAt": "1", "idleTimeoutSeconds": "3600",
            "outputBuffering": "block", "maxBuffer": "1048576",
        ]
    }

    /// A record whose id is not its directory's name is ignored: ids become paths, and `id=../../x` had the daemon
    /// write into `x` and delete it with the session.
    func testRecordNamingAnotherIdIsIgnored() {
        stopDaemon()
        let victim = server.scratch.file("victim")
        shell("mkdir -p '\(victim)' && echo keep > '\(victim)/canary'")
        let planted = UUID().uuidString.lowercased()
        _ = plantRecord(id: planted, fields: record(id: "../../victim", name: "planted"))
        let listed = client.pss(["get", "--host", "h1"])
        XCTAssertEqual(listed.status, 0, "\(listed)")
        XCTAssertFalse(listed.stdoutText.contains("planted"), listed.stdoutText)
        XCTAssertEqual(client.pss(["remove", "--host", "h1", "--all"]).status, 0)
        XCTAssertEqual(server.scratch.read("victim/canary"), "keep\n")
        XCTAssertTrue(daemonLog.contains("ignoring \(server.sessionsDirectory)/\(planted)"), daemonLog)
        try? FileManager.default.removeItem(atPath: server.sessionsDirectory + "/" + planted)
    }

    /// Nothing on disk keeps the daemon from starting: a command directory with a huge number (it trapped on
    /// overflow at every start), or any other name, leaves the session listed, Broken, and removable.
    func testDamagedSessionIsBrokenAndRemovable() {
        stopDaemon()
        let id = UUID().uuidString.lowercased()
        let directory = plantRecord(id: id, fields: record(id: id, name: "damaged"))
        for name in ["9223372036854775807", "+5", "007", "-1", "1e3"] {
            shell("mkdir -p '\(directory)/commands/\(name)' && echo 'name=x' > '\(directory)/commands/\(name)/job'")
        }
        shell("mkdir -p '\(directory)/commands/3' && printf 'status=zero\\nstartedAt=x\\n' > '\(directory)/commands/3/job' && mkdir '\(directory)/pty.log'")
        let listed = client.pss(["get", "--host", "h1", "--json"])
        XCTAssertEqual(listed.status, 0, "\(listed)")
        XCTAssertTrue(listed.stdoutText.contains("\"name\":\"damaged\""), listed.stdoutText)
        XCTAssertTrue(listed.stdoutText.contains("\"state\":\"Broken\""), listed.stdoutText)
        XCTAssertEqual(client.pss(["job", "list", "--session", "h1/damaged"]).status, 0)
        let removed = client.pss(["remove", "h1/damaged"])
        XCTAssertEqual(removed.status, 0, "\(removed)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory))
    }

    // MARK: Descriptors

    /// A finished job nobody received holds no descriptor (it held two, until the daemon ran out). Nobody waits
    /// on these jobs either (a client attached to one closed its files at the end): their end is seen in the list.
    func testFinishedJobsHoldNoDescriptors() {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "fds"]).status, 0)
        defer { _ = client.pss(["remove", "h1/fds"]) }
        func runJob(_ number: Int) {
            XCTAssertEqual(client.pss(["invoke", "--session", "h1/fds", "--as-job", "--job-name", "j\(number)", "--", "echo out; echo err >&2"]).status, 0)
            XCTAssertTrue(
                Processes.waitUntil {
                    jobs(client, ["--session", "h1/fds"]).first { $0["name"] as? String == "j\(number)" }?["state"] as? String == "Completed"
                })
        }
        runJob(0)
        let daemon = Processes.daemon(of: server)!
        let before = Processes.openDescriptors(daemon)
        for number in 1...8 { runJob(number) }
        XCTAssertEqual(jobs(client, ["--session", "h1/fds"]).count, 9)
        XCTAssertEqual(Processes.openDescriptors(daemon), before, "finished jobs hold descriptors")
    }

    /// Out of descriptors, the daemon waits for one instead of spinning on accept(); it serves again once one is
    /// free.
    func testOutOfDescriptorsDoesNotSpin() throws {
        XCTAssertEqual(client.pss(["new", "h1", "--name", "emfile"]).status, 0)
        defer { _ = client.pss(["remove", "h1/emfile"]) }
        let daemon = try XCTUnwrap(Processes.daemon(of: server))
        // Only the soft limit is lowered (raising a hard limit back takes a capability a container may lack).
        let limits = (try? String(contentsOfFile: "/proc/\(daemon)/limits", encoding: .utf8)) ?? ""
        let soft =
            limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.map(String.init) ?? "1024"
        XCTAssertEqual(ProcessRunner.run("/usr/bin/prlimit", ["--pid", "\(daemon)", "--nofile=\(Processes.openDescriptors(daemon)):"]).status, 0)
        let socket = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: server.hostDirectory + "/run").first { $0.hasSuffix(".sock") })
        // Connections fill what descriptors remain; the next ones wait in the listener's queue.
        var connections: [Int32] = []
        for _ in 0..<40 { connections.append(UnixSocket.connect(server.hostDirectory + "/run/" + socket)) }
        XCTAssertTrue(connections.allSatisfy { $0 >= 0 })
        XCTAssertTrue(Processes.waitUntil { self.daemonLog.contains("out of file descriptors") }, daemonLog)
        let ticks = Processes.cpuTicks(daemon)
        usleep(1_500_000)  // a measurement window: a spinning daemon would use all of it
        XCTAssertLessThan(Processes.cpuTicks(daemon) - ticks, 30, "the daemon spins while out of descriptors")
        connections.forEach { close($0) }
        XCTAssertEqual(ProcessRunner.run("/usr/bin/prlimit", ["--pid", "\(daemon)", "--nofile=\(soft):"]).status, 0)
        let listed = client.pss(["get", "--host", "h1"])
        XCTAssertEqual(listed.status, 0, "\(listed)")
        XCTAssertTrue(listed.stdoutText.contains("emfile"))
    }

    // MARK: Answers of any size

    /// A command too long for a frame is refused before anything connects; long ones run; and `job list` answers
    /// however much the kept commands add up to (it failed past 4 MiB).
    func testLongCommandsAndLongJobLists() {
        let tooLong = (0..<12).map { _ in String(repeating: "x", count: 128 * 1000) }
        let refused = client.pss(["invoke", "--host", "h1", "--", "echo"] + tooLong)
        XCTAssertEqual(refused.status, 64, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("at most 1048576"), refused.stderrText)

        let words = (0..<6).map { index in String(repeating: Character(UnicodeScalar(UInt8(97 + index))), count: 100_000) }
        let echoed = client.pss(["invoke", "--host", "h1", "--", "printf", "%s\\n"] + words)
        XCTAssertEqual(echoed.status, 0, "\(echoed.stderrText)")
        XCTAssertEqual(echoed.stdoutText, words.map { $0 + "\n" }.joined())

        XCTAssertEqual(client.pss(["new", "h1", "--name", "long"]).status, 0)
        defer { _ = client.pss(["remove", "h1/long"]) }
        for number in 0..<7 {
            XCTAssertEqual(client.pss(["invoke", "--session", "h1/long", "--as-job", "--job-name", "j\(number)", "--", ":"] + words).status, 0)
            XCTAssertEqual(client.pss(["job", "wait", "j\(number)", "--session", "h1/long"]).status, 0)
        }
        let listed = client.pss(["job", "list", "--session", "h1/long", "--json"])
        XCTAssertEqual(listed.status, 0, "\(listed.stderrText)")
        let rows = listed.stdoutText.split(separator: "\n")
        XCTAssertEqual(rows.count, 7)
        XCTAssertTrue(rows.allSatisfy { $0.utf8.count < 8 * 1024 && $0.contains("…") }, "listed commands are cut")
    }

    // MARK: The shells' environment

    /// Session shells get a login's environment, not the connection's that happened to start the daemon.
    func testShellsDoNotInheritTheStartingConnectionsEnvironment() {
        var options = SSHServer.Options()
        options.environment = [
            "DISPLAY": ":99", "KRB5CCNAME": "FILE:/tmp/krb5cc_stolen", "XDG_SESSION_ID": "7",
            "SSH_AUTH_SOCK": "/tmp/agent.sock", "LC_TIME": "C.UTF-8", "TZ": "UTC",
        ]
        let host = SSHServer(options)
        let client = ClientMachine(servers: ["h": host])
        let result = client.pss(["invoke", "--host", "h", "--", "env"])
        XCTAssertEqual(result.status, 0, "\(result)")
        let names = Set(result.stdoutText.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        for leaked in ["DISPLAY", "KRB5CCNAME", "XDG_SESSION_ID", "SSH_AUTH_SOCK", "SSH_CONNECTION", "PSS_HOST_DIR"] {
            XCTAssertFalse(names.contains(leaked), "\(leaked) reached the session's shell")
        }
        for kept in ["HOME", "USER", "LOGNAME", "PATH", "SHELL", "LC_TIME", "TZ"] {
            XCTAssertTrue(names.contains(kept), "\(kept) is missing: \(names.sorted())")
        }
    }
}
