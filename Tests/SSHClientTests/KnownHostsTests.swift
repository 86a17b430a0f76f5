import CLibSSH2
import Foundation
@testable import SSHClient
import XCTest

/// known_hosts lines, matched by libssh2 as pss drives it (no network needed: a bare session suffices).
final class KnownHostsTests: XCTestCase {
    // Two real ed25519 public keys.
    static let keyA = "AAAAC3NzaC1lZDI1NTE5AAAAIAdB9u8Ku4ObGFVlZsi4n1VqCsjDSdpcvkRTkWWPiw2T"
    static let keyB = "AAAAC3NzaC1lZDI1NTE5AAAAIOh5b4N7rrlXudQC3Kfw0P+m8vi4ys9CT8FYKOEb26LJ"

    var session: OpaquePointer!
    var directory: String!

    override func setUp() {
        _ = LibSSH2.isInitialized
        session = libssh2_session_init_ex(nil, nil, nil, nil)
        directory = NSTemporaryDirectory() + "pss-kh-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        libssh2_session_free(session)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func key(_ base64: String) -> HostKey {
        HostKey(algorithm: .ed25519, blob: [UInt8](Data(base64Encoded: base64)!), sha256: [UInt8](repeating: 0, count: 32))
    }

    private func lookup(_ lines: [String], name: String, key: HostKey) -> KnownHosts.Lookup {
        let file = directory + "/known_hosts"
        try! lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return KnownHosts(session: session, files: [file]).lookup(key, name: name)
    }

    func testPlainEntry() {
        XCTAssertEqual(lookup(["web ssh-ed25519 \(Self.keyA)"], name: "web", key: key(Self.keyA)), .match)
        XCTAssertEqual(lookup(["web ssh-ed25519 \(Self.keyA)"], name: "other", key: key(Self.keyA)), .notFound)
    }

    func testPortEntryIsNotAPlainEntry() {
        let lines = ["[web]:2222 ssh-ed25519 \(Self.keyA)"]
        XCTAssertEqual(lookup(lines, name: "[web]:2222", key: key(Self.keyA)), .match)
        XCTAssertEqual(lookup(lines, name: "web", key: key(Self.keyA)), .notFound)
        XCTAssertEqual(lookup(["web ssh-ed25519 \(Self.keyB)"], name: "[web]:2222", key: key(Self.keyA)), .notFound,
                       "as OpenSSH: a port-22 entry says nothing about another port")
    }

    func testMismatchNamesTheLine() {
        let lines = ["# header", "", "other ssh-ed25519 \(Self.keyA)", "web,10.0.0.1 ssh-ed25519 \(Self.keyB)"]
        let file = directory + "/known_hosts"
        XCTAssertEqual(lookup(lines, name: "10.0.0.1", key: key(Self.keyA)), .mismatch(file: file, line: 4))
    }

    func testHashedEntry() {
        let file = directory + "/known_hosts"
        try! "web.example ssh-ed25519 \(Self.keyA)\n".write(toFile: file, atomically: true, encoding: .utf8)
        let hash = Process()
        hash.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        hash.arguments = ["-q", "-H", "-f", file]
        try! hash.run()
        hash.waitUntilExit()
        let hashed = try! String(contentsOfFile: file, encoding: .utf8)
        XCTAssertTrue(hashed.hasPrefix("|1|"), hashed)
        XCTAssertEqual(lookup([hashed], name: "web.example", key: key(Self.keyA)), .match)
        XCTAssertEqual(lookup([hashed], name: "web.example", key: key(Self.keyB)), .mismatch(file: file, line: 1))
        XCTAssertEqual(lookup([hashed], name: "other.example", key: key(Self.keyA)), .notFound)
    }

    func testKnownAlgorithms() {
        let file = directory + "/known_hosts"
        try! "db1 ssh-ed25519 \(Self.keyA)\ndb1 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let known = KnownHosts(session: session, files: [file]).knownAlgorithms(name: "db1")
        XCTAssertEqual(Set(known), [.ed25519, .ecdsa256])
        XCTAssertEqual(KnownHosts(session: session, files: [file]).knownAlgorithms(name: "db2"), [])
    }

    func testAddWritesALineThatMatches() throws {
        let file = directory + "/sub/known_hosts"
        try KnownHosts.add(key(Self.keyA), name: "[hostname]:2222", to: file)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "[hostname]:2222 ssh-ed25519 \(Self.keyA)\n")
        XCTAssertEqual(KnownHosts(session: session, files: [file]).lookup(key(Self.keyA), name: "[hostname]:2222"), .match)
    }
}

final class PrivateKeyFileTests: XCTestCase {
    private func generate(_ type: String, passphrase: String = "") -> PrivateKeyFile? {
        let directory = NSTemporaryDirectory() + "pss-key-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = ["-q", "-t", type, "-N", passphrase, "-f", directory + "/key"]
        try! process.run()
        process.waitUntilExit()
        return PrivateKeyFile(contents: try! String(contentsOfFile: directory + "/key", encoding: .utf8))
    }

    func testKindsAndEncryption() {
        XCTAssertEqual(generate("ed25519"), PrivateKeyFile(kind: .ed25519, isEncrypted: false))
        XCTAssertEqual(generate("ed25519", passphrase: "pw"), PrivateKeyFile(kind: .ed25519, isEncrypted: true))
        XCTAssertEqual(generate("ecdsa"), PrivateKeyFile(kind: .ecdsa, isEncrypted: false))
        XCTAssertEqual(generate("rsa"), PrivateKeyFile(kind: .rsa, isEncrypted: false))
        XCTAssertEqual(PrivateKeyFile(contents: "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"),
                       PrivateKeyFile(kind: .rsa, isEncrypted: true))
        XCTAssertNil(PrivateKeyFile(contents: "not a key"))
    }
}
