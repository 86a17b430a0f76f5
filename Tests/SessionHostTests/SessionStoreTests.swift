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
        let record = SessionRecord(id: "0f8fad5b-d9cb-469f-a165-70867728950e", name: "s", owner: "root", heldBy: "c",
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
        try FileManager.default.createDirectory(atPath: base + "/open", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o777])
        try HostPaths.secureDirectory(base + "/open")
        let mode = try FileManager.default.attributesOfItem(atPath: base + "/open")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o700)
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: base + "/open")
        XCTAssertThrowsError(try HostPaths.secureDirectory(base + "/link"))
    }
}
