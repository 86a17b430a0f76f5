import Foundation
import Glibc
import XCTest

@testable import SessionHost

/// The host's accounts as the static helper reads them: the files, and getent for the sources nsswitch.conf adds.
final class AccountDatabaseTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        super.setUp()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("accounts-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        AccountDatabase.directory = directory
    }

    override func tearDown() {
        AccountDatabase.directory = "/etc"
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    private func write(_ name: String, _ lines: [String]) {
        try! (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    func testTheFilesAreRead() {
        write("nsswitch.conf", ["passwd: files", "group: files # only the files"])
        write(
            "passwd",
            [
                "alice:x:1500:1500:Alice A.,,,:/home/alice:/bin/bash", "bob:x:1501:100::/home/bob:/bin/sh",
                "broken:x:notanumber:1:::", "short:x:1", "carol:x:1502:1502::/srv/carol:",
            ])
        write("group", ["alice:x:1500:", "users:x:100:alice,carol", "ops:x:2000:carol", "carol:x:1502:"])
        XCTAssertEqual(
            AccountDatabase.user(named: "alice"),
            .init(name: "alice", uid: 1500, gid: 1500, home: "/home/alice", shell: "/bin/bash"))
        XCTAssertEqual(AccountDatabase.user(id: 1501)?.name, "bob")
        XCTAssertEqual(AccountDatabase.user(named: "carol")?.shell, "")
        XCTAssertNil(AccountDatabase.user(named: "broken"))
        XCTAssertNil(AccountDatabase.user(named: "short"))
        XCTAssertNil(AccountDatabase.user(named: "ali"), "a prefix of a name is not the name")
        XCTAssertNil(AccountDatabase.user(named: "alice:x"))
        XCTAssertNil(AccountDatabase.user(named: ""))
        XCTAssertEqual(AccountDatabase.group(named: "users")?.members, ["alice", "carol"])
        XCTAssertEqual(AccountDatabase.group(id: 2000)?.name, "ops")
        XCTAssertNil(AccountDatabase.group(named: "nobody-here"))
        let carol = AccountDatabase.user(named: "carol")!
        XCTAssertEqual(AccountDatabase.groups(of: carol).map(\.name), ["carol", "users", "ops"], "primary first")
        XCTAssertEqual(AccountDatabase.users(withPrimaryGroup: 100)?.map(\.name), ["bob"])
    }

    /// Lines as glibc reads them: bytes split at newline and colon only, comments and compat lines skipped, a
    /// malformed line passed over for the next, names compared byte for byte.
    func testLinesAreBytes() {
        write("nsswitch.conf", ["passwd: files", "group: files"])
        write(
            "passwd",
            [
                "# old:x:1400:1400::/home/old:/bin/sh", " indented:x:1401:1401::/x:/bin/sh", "+nis::::::",
                "dave:x:1600:1600:\u{301}Dave:/home/dave:/bin/sh", "erin:x:broken:1602::/home/erin:/bin/sh",
                "erin:x:1602:1602::/home/erin:/bin/sh",
                "caf\u{e9}:x:1700:1700::/home/cafe:/bin/sh", "zero:x:0x0:0::/:/bin/sh", "space:x: 0:0::/:/bin/sh",
            ])
        write("group", ["shared:x:1600:dave", "shared2:x:1600:erin"])
        XCTAssertNil(AccountDatabase.user(named: "old"), "a comment line")
        XCTAssertNil(AccountDatabase.user(id: 1400))
        XCTAssertNil(AccountDatabase.user(named: "indented"))
        XCTAssertNil(AccountDatabase.user(named: "+nis"))
        XCTAssertEqual(AccountDatabase.user(named: "dave")?.uid, 1600, "a combining mark after a colon hides no field")
        XCTAssertEqual(AccountDatabase.user(named: "erin")?.uid, 1602, "the malformed line passed over for the next")
        XCTAssertNil(AccountDatabase.user(named: "cafe\u{301}"), "another spelling of the name is another name")
        XCTAssertEqual(AccountDatabase.user(named: "caf\u{e9}")?.uid, 1700)
        XCTAssertNil(AccountDatabase.user(named: "zero"), "no base prefix")
        XCTAssertNil(AccountDatabase.user(named: "space"), "no blank in a number")
        XCTAssertEqual(AccountDatabase.group(id: 1600)?.name, "shared")
    }

    func testSourcesBeyondTheFiles() {
        write("nsswitch.conf", ["# comment", "passwd:   files [NOTFOUND=return] ", "group: files", "hosts: files dns"])
        XCTAssertFalse(AccountDatabase.usesOtherSources("passwd"), "an action is not a source")
        XCTAssertFalse(AccountDatabase.usesOtherSources("group"))
        write("nsswitch.conf", ["passwd: compat"])
        XCTAssertTrue(AccountDatabase.usesOtherSources("passwd"), "compat's + lines bring in NIS")
        write("nsswitch.conf", ["passwd: files sss", "group:\tfiles systemd"])
        XCTAssertTrue(AccountDatabase.usesOtherSources("passwd"))
        XCTAssertTrue(AccountDatabase.usesOtherSources("group"))
        write("nsswitch.conf", ["shadow: files ldap"])
        XCTAssertFalse(AccountDatabase.usesOtherSources("passwd"), "no line: the files")
    }

    /// A user the files here do not hold, known to another source: getent (the system's own, with all of its
    /// sources) answers for it. This machine's root stands in for a directory service's user.
    func testAUserOfAnotherSourceIsAskedOfGetent() {
        write("passwd", ["alice:x:1500:1500::/home/alice:/bin/bash"])
        write("group", ["alice:x:1500:"])
        write("nsswitch.conf", ["passwd: files", "group: files"])
        XCTAssertNil(AccountDatabase.user(named: "root"), "only the files: not asked")
        write("nsswitch.conf", ["passwd: files ldap", "group: files ldap"])
        XCTAssertEqual(AccountDatabase.user(named: "root")?.uid, 0)
        XCTAssertEqual(AccountDatabase.user(id: 0)?.name, "root")
        XCTAssertEqual(AccountDatabase.group(named: "root")?.gid, 0)
        XCTAssertNil(AccountDatabase.user(named: "no-such-user-anywhere"))
        let root = AccountDatabase.user(named: "root")!
        XCTAssertEqual(AccountDatabase.groups(of: root).first?.name, "root")
    }
}
