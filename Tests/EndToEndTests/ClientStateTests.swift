import Foundation
import TestSupport
import XCTest

/// The client directory is trusted as ssh trusts ~/.ssh: checked for owner and mode before use, and every value
/// read from it validated, since what it holds ends up in connections and in commands run on hosts.
final class ClientStateTests: HostFixtureTestCase {
    private var directory: String { client.scratch.file("pss-client") }

    override func setUp() {
        super.setUp()
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--", "true"]).status, 0)  // the directory exists
    }

    func testDirectoryIsPrivateAndRefusedWhenOthersCanWrite() throws {
        let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o700)
        chmod(directory, 0o777)
        defer { chmod(directory, 0o700) }
        let result = client.pss(["invoke", "--host", "h1", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Bad owner or permissions on \(directory)"), result.stderrText)
    }

    func testStateFilesOfAnotherUserOrThroughSymlinksAreRefused() {
        let id = directory + "/client-id"
        chown(id, 65534, 65534)
        let foreign = client.pss(["invoke", "--host", "h1", "--", "true"])
        XCTAssertEqual(foreign.status, 255, "\(foreign)")
        XCTAssertTrue(foreign.stderrText.contains("Bad owner or permissions on \(id): owned by uid 65534"), foreign.stderrText)
        chown(id, 0, 0)

        let sessions = directory + "/sessions.json"
        let elsewhere = client.scratch.write("elsewhere.json", "[]")
        unlink(sessions)
        symlink(elsewhere, sessions)
        defer { unlink(sessions) }
        let linked = client.pss(["get"])
        XCTAssertEqual(linked.status, 255, "\(linked)")
        XCTAssertTrue(linked.stderrText.contains("a symbolic link"), linked.stderrText)
    }

    /// A planted helper digest never reaches a shell on the host (one holding `$(touch ...)` ran there).
    func testPlantedHelperDigestIsIgnored() throws {
        let caches = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("helper-") && $0.hasSuffix(".sha256") }
        XCTAssertEqual(caches.count, 1)
        let marker = "/tmp/p\(getpid() % 10)"
        unlink(marker)
        let payload = "$(touch \(marker))"
        let planted = payload + String(repeating: "a", count: 64 - payload.count)
        XCTAssertEqual(planted.count, 64)
        try planted.write(toFile: directory + "/" + caches[0], atomically: false, encoding: .utf8)
        let result = client.pss(["invoke", "--host", "h1", "--", "echo ran"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "ran\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the planted digest ran on the host")
        let cached = try String(contentsOfFile: directory + "/" + caches[0], encoding: .utf8)
        XCTAssertTrue(cached.allSatisfy(\.isHexDigit) && cached.count == 64, cached)
    }

    /// Sessions remembered with a host or a name pss would never have written are dropped, not connected to.
    func testRememberedSessionsAreValidated() throws {
        let planted = """
            [{"host":"h1;touch /tmp/x","id":"0b7c1c9e-4c1e-4a63-9a0f-5d4f3e1f2a10","name":"evil"},
             {"host":"h1","id":"0b7c1c9e-4c1e-4a63-9a0f-5d4f3e1f2a11","name":"../../etc"},
             {"host":"-oProxyCommand=touch","id":"0b7c1c9e-4c1e-4a63-9a0f-5d4f3e1f2a12","name":"x"}]
            """
        try planted.write(toFile: directory + "/sessions.json", atomically: false, encoding: .utf8)
        let result = client.pss(["get"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stderrText, "")
        let bare = client.pss(["invoke", "--session", "evil", "--", "true"])
        XCTAssertEqual(bare.status, 254, "\(bare)")
        XCTAssertTrue(bare.stderrText.contains("no session named 'evil' is known"), bare.stderrText)
    }

    /// The helper pss uploads runs as the user on every host: one that another user could have replaced (here a
    /// copy others may write, named by PSS_HELPER) is refused.
    func testHelperOthersCouldReplaceIsRefused() {
        let copy = client.scratch.file("pss-host")
        shell("cp '\((PSSBinary.path as NSString).deletingLastPathComponent)/pss-host' '\(copy)' && chmod 777 '\(copy)'")
        client.environment["PSS_HELPER"] = copy
        defer { client.environment["PSS_HELPER"] = nil }
        let result = client.pss(["invoke", "--host", "h1", "--", "true"])
        XCTAssertEqual(result.status, 255, "\(result)")
        XCTAssertTrue(result.stderrText.contains("Bad owner or permissions on \(copy): writable by others (mode 0777)"), result.stderrText)
        chmod(copy, 0o755)
        XCTAssertEqual(client.pss(["invoke", "--host", "h1", "--", "true"]).status, 0)
    }
}
