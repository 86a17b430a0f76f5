import Foundation
import SessionWire
import TestSupport
import XCTest

/// The helper runs as the user on every host: nothing runs, or is installed, from a directory another user could
/// have written, as OpenSSH's safe_path rule has it for authorized_keys.
final class HostDirectoryTrustTests: XCTestCase {
    static let attacker = "pss-test-attacker"

    override class func setUp() {
        super.setUp()
        LocalAccount.ensure(attacker, password: "attacker-password")
    }

    override class func tearDown() {
        LocalAccount.remove(attacker)
        super.tearDown()
    }

    private var localHelper: String { (PSSBinary.path as NSString).deletingLastPathComponent + "/pss-host" }

    /// The name this client's helper has on hosts: `pss-host-` and 16 hex digits of its SHA-256.
    private var installedName: String {
        "pss-host-" + SHA256.hex(FileManager.default.contents(atPath: localHelper)!).prefix(16)
    }

    /// The servers a test started, kept until it ends (XCTest keeps test instances alive: tearDown lets go).
    private var servers: [SSHServer] = []

    override func tearDown() {
        servers = []
        super.tearDown()
    }

    /// A host whose PSS_HOST_DIR is `directory`, and a client of it.
    private func host(in directory: String, _ configure: (inout SSHServer.Options) -> Void = { _ in }) -> ClientMachine {
        var options = SSHServer.Options()
        options.hostDirectory = directory
        configure(&options)
        let server = SSHServer(options)
        servers.append(server)
        return ClientMachine(servers: ["h": server])
    }

    /// The attack: PSS_HOST_DIR lies in a directory anyone may write (not sticky); another user puts a host
    /// directory there with their own `bin/pss-host-<hash>`, and waits. It ran as the victim; now it never runs.
    func testHelperPlantedThroughASharedDirectoryIsNeverRun() {
        let shared = Scratch("shared")
        chmod(shared.path, 0o777)
        let marker = shared.file("planted-helper-ran")
        let planted = shared.file("pss-host/bin/" + installedName)
        XCTAssertEqual(
            LocalAccount.run(
                Self.attacker,
                """
                mkdir -p '\(shared.path)/pss-host/bin' && printf '#!/bin/sh\\ntouch %s\\n' '\(marker)' > '\(planted)' && \
                chmod 755 '\(planted)' && chmod 755 '\(shared.path)/pss-host' '\(shared.path)/pss-host/bin'
                """
            ).status, 0)
        let client = host(in: shared.file("pss-host"))
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the planted helper ran as the victim")
        XCTAssertTrue(result.stderrText.contains("not owned by you"), result.stderrText)
        XCTAssertFalse(
            result.stderrText.replacingOccurrences(of: shared.path, with: "").contains("/tmp"),
            "a message suggests /tmp: \(result.stderrText)")
    }

    /// Even a host directory that is the victim's own is refused below a directory others may write and that is
    /// not sticky (they could swap it); nothing is installed there.
    func testDirectoryOthersCanWriteAboveTheHostDirectoryIsRefused() {
        let shared = Scratch("open")
        chmod(shared.path, 0o777)
        let client = host(in: shared.file("pss-host"))
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(
            result.stderrText.contains("\(shared.path), above the host directory, is writable by others (mode 777) and not sticky"),
            result.stderrText)
        XCTAssertTrue(result.stderrText.contains("PSS_HOST_DIR"), result.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: shared.file("pss-host")), "the host directory was made anyway")
    }

    /// A sticky directory others may write (as /tmp) is fine: nobody but its owner can rename what is in it.
    func testStickySharedDirectoryIsAccepted() {
        let shared = Scratch("sticky")
        chmod(shared.path, 0o1777)
        let client = host(in: shared.file("pss-host"))
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "ran\n")
    }

    /// A host directory whose bin/ others may write is refused before the helper runs.
    func testHostDirectoryOthersCanWriteIsRefused() {
        let scratch = Scratch("loose")
        let client = host(in: scratch.file("pss-host"))
        XCTAssertEqual(client.pss(["invoke", "--host", "h", "--", "true"]).status, 0)
        chmod(scratch.file("pss-host/bin"), 0o777)
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("\(scratch.file("pss-host/bin")) is writable by others"), result.stderrText)
    }

    func testRelativeHostDirectoryIsRefused() {
        let client = host(in: "relative/pss-host")
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("'relative/pss-host' is not an absolute path"), result.stderrText)
    }

    /// A host path holding a quote: every value pss puts in a script is quoted (the installer pasted it into
    /// single quotes).
    func testHostDirectoryWithAQuote() {
        let scratch = Scratch("quote")
        let client = host(in: scratch.file("it's $(here)/pss-host"))
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "ran\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.file("it's $(here)/pss-host/bin/" + installedName)))
    }

    /// A directory where the helper should be is reported, not filled (`mv -f` moved the helper into it).
    func testDirectoryInPlaceOfTheHelperIsReported() {
        let scratch = Scratch("dir-helper")
        let client = host(in: scratch.file("pss-host"))
        shell("mkdir -p '\(scratch.file("pss-host/bin/" + installedName))' && chmod -R 700 '\(scratch.file("pss-host"))'")
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("is a directory"), result.stderrText)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.file("pss-host/bin/" + installedName)), [])
    }

    /// A host without sha256sum checks the upload with another tool; a host with none refuses to install
    /// (the check was skipped).
    func testUploadIsCheckedWithWhateverToolTheHostHas() {
        let scratch = Scratch("no-sha256sum")
        let client = host(in: scratch.file("pss-host")) { $0.hiddenPrograms = ["/usr/bin/sha256sum"] }
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 0, "\(result)")

        let bare = Scratch("no-checksum")
        let refused = host(in: bare.file("pss-host")) {
            $0.hiddenPrograms = ["/usr/bin/sha256sum", "/usr/bin/shasum", "/usr/bin/openssl"]
        }
        let failed = refused.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(failed.status, 255, "\(failed)")
        XCTAssertTrue(failed.stderrText.contains("no sha256sum, shasum or openssl"), failed.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: bare.file("pss-host/bin/" + installedName)))
    }

    /// The relay talks only to a daemon of its own user (SO_PEERCRED): here root serves the user's socket.
    func testRelayRefusesADaemonOfAnotherUser() throws {
        let scratch = Scratch("peer")
        let directory = scratch.file("host")
        shell("mkdir -p '\(directory)/run' && chown -R \(Self.attacker): '\(directory)' && chmod -R 700 '\(directory)'")
        let socketPath = directory + "/run/daemon-v\(WireProtocol.version).sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in socketPath.utf8.enumerated() { raw[index] = byte }
        }
        XCTAssertEqual(
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }, 0)
        XCTAssertEqual(listen(listener, 4), 0)
        chmod(socketPath, 0o777)
        let helper = scratch.file("pss-host")
        shell("cp '\(localHelper)' '\(helper)' && chmod 755 '\(helper)'")
        let result = LocalAccount.run(Self.attacker, "PSS_HOST_DIR='\(directory)' '\(helper)' relay < /dev/null")
        XCTAssertEqual(result.status, 70, "\(result)")
        XCTAssertTrue(result.stderrText.contains("is served by uid 0, not by you"), result.stderrText)
    }

    /// The daemon's lock and its sessions carry the protocol version, as its socket does: a daemon of another
    /// version (holding the old, unversioned lock here, its sessions in the old `sessions/`) neither stops this
    /// one from starting nor shares sessions with it (each would take the other's for Broken).
    func testAnotherVersionsDaemonRunsBesideThisOne() {
        let scratch = Scratch("lock")
        let client = host(in: scratch.file("pss-host"))
        let oldSession = scratch.file("pss-host/sessions/0b7c1c9e-4c1e-4a63-9a0f-5d4f3e1f2a10")
        shell("mkdir -p '\(scratch.file("pss-host/run"))' '\(oldSession)/commands' && chmod -R 700 '\(scratch.file("pss-host"))'")
        let record =
            "id=0b7c1c9e-4c1e-4a63-9a0f-5d4f3e1f2a10\nname=older\nowner=root\nstate=Opened\nheldBy=x\ncreatedAt=1\n"
            + "idleTimeoutSeconds=3600\noutputBuffering=block\nmaxBuffer=1024\n"
        try! record.write(toFile: oldSession + "/record", atomically: true, encoding: .utf8)
        let lock = open(scratch.file("pss-host/run/daemon.lock"), O_RDWR | O_CREAT, 0o600)
        defer { close(lock) }
        XCTAssertEqual(flock(lock, LOCK_EX | LOCK_NB), 0)
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 0, "\(result)")
        let listed = client.pss(["get", "--host", "h"])
        XCTAssertEqual(listed.status, 0, "\(listed)")
        XCTAssertFalse(listed.stdoutText.contains("older"), listed.stdoutText)
        XCTAssertEqual(try String(contentsOfFile: oldSession + "/record", encoding: .utf8), record, "the other version's record was rewritten")
    }

    /// Writable by its group is fine when the group's only member is the user (a private group, as RHEL's umask 002
    /// makes), and refused when it has others.
    func testGroupWritableAboveTheHostDirectory() {
        let shared = Scratch("group")
        chmod(shared.path, 0o775)  // group root: root alone
        let client = host(in: shared.file("pss-host"))
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 0, "\(result)")

        let other = Scratch("other-group")
        chmod(other.path, 0o775)
        shell("chgrp \(Self.attacker) '\(other.path)'")
        let refused = host(in: other.file("pss-host")).pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(refused.status, 255, "\(refused)")
        XCTAssertTrue(refused.stderrText.contains("writable by its group (mode 775), which has members other than you"), refused.stderrText)
    }

    /// A check that cannot be made refuses: with no `stat`, nothing is run or installed (the check passed, empty).
    func testTrustCheckThatCannotBeMadeRefuses() {
        let scratch = Scratch("no-stat")
        let client = host(in: scratch.file("pss-host")) { $0.hiddenPrograms = ["/usr/bin/stat"] }
        let result = client.pss(["invoke", "--host", "h", "--", "echo ran"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("could not all be read"), result.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("pss-host/bin/" + installedName)))
    }
}
