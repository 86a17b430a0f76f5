import Foundation
@testable import SessionHost
import SessionWire
import XCTest

final class SessionStoreTests: XCTestCase {
    func testRecordsRoundTripThroughDisk() throws {
        let base = NSTemporaryDirectory() + "pss-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let paths = HostPaths(environment: { $0 == "PSS_HOST_DIR" ? base : nil })
        try paths.prepare()
        let record = SessionRecord(
            id: "0f8fad5b-d9cb-469f-a165-70867728950e", name: "s", owner: "root", heldBy: "c",
            createdAt: 42, idleTimeoutSeconds: 60, outputBuffering: .drop, maxBuffer: 1024,
            command: "printf 'a\\nb' \\\\ x\nsecond=line\r", temporary: true)
        try HostPaths.secureDirectory(paths.session(record.id))
        let store = SessionStore(paths: paths)
        try store.save(record)
        XCTAssertEqual(store.load(record.id), record)
        XCTAssertEqual(store.loadAll(), [record])
    }

    func testSecureDirectoryRefusesSymlinksAndTightensModes() throws {
        let base = NSTemporaryDirectory() + "pss-dir-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(
            atPath: base + "/open", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o777])
        try HostPaths.secureDirectory(base + "/open")
        let mode = try FileManager.default.attributesOfItem(atPath: base + "/open")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o700)
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: base + "/open")
        XCTAssertThrowsError(try HostPaths.secureDirectory(base + "/link"))
    }

    /// The directory's name is the session's id: a record naming another (ids become paths) is ignored.
    func testRecordNamingAnotherIdIsIgnored() throws {
        let base = NSTemporaryDirectory() + "pss-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let paths = HostPaths(environment: { $0 == "PSS_HOST_DIR" ? base : nil })
        try paths.prepare()
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e"
        for claimed in ["../../x", "0f8fad5b-d9cb-469f-a165-70867728950f", ""] {
            let record = SessionRecord(id: claimed, name: "s", owner: "root", heldBy: "c", createdAt: 1, idleTimeoutSeconds: 60)
            try HostPaths.secureDirectory(paths.session(id))
            try KeyValueFile.write(
                paths.session(id) + "/record",
                [
                    ("id", record.id), ("name", "s"), ("owner", "root"),
                    ("state", "Opened"), ("createdAt", "1"), ("idleTimeoutSeconds", "60"),
                    ("outputBuffering", "block"), ("maxBuffer", "1"),
                ])
            XCTAssertNil(SessionStore(paths: paths).load(id), claimed)
        }
    }

    func testCommandNumbers() {
        let rows: [(String, Int?)] = [
            ("1", 1), ("42", 42), ("999999999", 999_999_999), ("1000000000", nil),
            ("9223372036854775807", nil), ("0", nil), ("007", nil), ("+5", nil), ("-1", nil),
            ("1e3", nil), ("", nil), (" 1", nil), ("١", nil),
        ]
        for (name, expected) in rows { XCTAssertEqual(HostedSession.commandNumber(name), expected, name.debugDescription) }
    }

    /// removeTree empties directories through their descriptors and never follows a symlink, wherever it is.
    func testRemoveTreeNeverFollowsSymlinks() throws {
        let base = NSTemporaryDirectory() + "pss-rm-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let outside = base + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: outside + "/keep", contents: Data("keep".utf8)))
        try FileManager.default.createDirectory(atPath: base + "/tree/a/b", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: base + "/tree/a/b/file", contents: Data()))
        try FileManager.default.createSymbolicLink(atPath: base + "/tree/a/link", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: base + "/top", withDestinationPath: outside)
        Posix.removeTree(base + "/tree")
        Posix.removeTree(base + "/top")
        XCTAssertFalse(FileManager.default.fileExists(atPath: base + "/tree"))
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: base + "/top"))
        XCTAssertEqual(FileManager.default.contents(atPath: outside + "/keep"), Data("keep".utf8))
    }

    /// A symlink is refused without touching what it points to; a relative or exposed host directory is refused.
    func testHostDirectoryChecks() throws {
        let base = NSTemporaryDirectory() + "pss-dir-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(
            atPath: base + "/target", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: base + "/target")
        XCTAssertThrowsError(try HostPaths.secureDirectory(base + "/link"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: base + "/target")[.posixPermissions] as? Int, 0o755)

        XCTAssertThrowsError(try HostPaths(environment: { $0 == "PSS_HOST_DIR" ? "relative/dir" : nil }).prepare()) { error in
            XCTAssertTrue("\(error)".contains("not an absolute path"), "\(error)")
        }
        try FileManager.default.createDirectory(
            atPath: base + "/shared", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o777])
        chmod(base + "/shared", 0o777)
        XCTAssertThrowsError(try HostPaths(environment: { $0 == "PSS_HOST_DIR" ? base + "/shared/pss" : nil }).prepare()) { error in
            XCTAssertTrue("\(error)".contains("writable by others and not sticky"), "\(error)")
        }
        chmod(base + "/shared", 0o1777)
        XCTAssertNoThrow(try HostPaths(environment: { $0 == "PSS_HOST_DIR" ? base + "/shared/pss" : nil }).prepare())
    }
}
