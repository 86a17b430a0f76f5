import Foundation
@testable import SSHClient
import XCTest

/// known_hosts read and judged as OpenSSH does: bytes line by line, its pattern rules, hashed names, markers; any
/// other key for the name means changed.
final class KnownHostsTests: XCTestCase {
    // Real public keys: two ed25519, one ECDSA P-256.
    static let keyA = "AAAAC3NzaC1lZDI1NTE5AAAAIAdB9u8Ku4ObGFVlZsi4n1VqCsjDSdpcvkRTkWWPiw2T"
    static let keyB = "AAAAC3NzaC1lZDI1NTE5AAAAIOh5b4N7rrlXudQC3Kfw0P+m8vi4ys9CT8FYKOEb26LJ"
    static let keyE =
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg="

    var directory: String!

    override func setUp() {
        directory = NSTemporaryDirectory() + "pss-kh-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func key(_ base64: String) -> HostKey {
        let blob = [UInt8](Data(base64Encoded: base64)!)
        let algorithm = HostKey.Algorithm(rawValue: HostKey.typeName(ofBlob: blob)!)!
        return HostKey(algorithm: algorithm, blob: blob, sha256: [UInt8](repeating: 0, count: 32))
    }

    private var file: String { directory + "/known_hosts" }

    private func verdict(_ bytes: [UInt8], name: String, key presented: String) -> KnownHosts.Verdict {
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(bytes)))
        return KnownHosts(paths: [file]).verdict(for: key(presented), name: name)
    }

    private func verdict(_ lines: [String], name: String, key presented: String) -> KnownHosts.Verdict {
        verdict(Array(lines.joined(separator: "\n").utf8), name: name, key: presented)
    }

    func testVerdicts() {
        let (a, b, e) = (Self.keyA, Self.keyB, Self.keyE)
        let at = { (line: Int) in KnownHosts.Location(file: self.file, line: line) }
        let rows: [([String], String, String, KnownHosts.Verdict)] = [
            (["web ssh-ed25519 \(a)"], "web", a, .known(at(1))),
            (["web ssh-ed25519 \(a)"], "other", a, .unknown(certificateAuthorities: [])),
            // Names compare without case, in the name and in the pattern.
            (["web ssh-ed25519 \(a)"], "WEB", a, .known(at(1))),
            (["LocalHost ssh-ed25519 \(a)"], "localhost", a, .known(at(1))),
            // Another key for the name, of the same type or another: changed.
            (["web ssh-ed25519 \(b)"], "web", a, .changed(at(1), recordedType: "ssh-ed25519")),
            (["web ecdsa-sha2-nistp256 \(e)"], "web", a, .changed(at(1), recordedType: "ecdsa-sha2-nistp256")),
            (
                ["# header", "", "other ssh-ed25519 \(a)", "web,10.0.0.1 ssh-ed25519 \(b)"], "10.0.0.1", a,
                .changed(at(4), recordedType: "ssh-ed25519")
            ),
            // A matching line anywhere wins over another key for the name, as in ssh.
            (["web ecdsa-sha2-nistp256 \(e)", "web ssh-ed25519 \(a)"], "web", a, .known(at(2))),
            // Patterns: wildcards, negation, ports.
            (["*.corp ssh-ed25519 \(a)"], "db.corp", a, .known(at(1))),
            (["*.corp,!db.corp ssh-ed25519 \(b)"], "db.corp", a, .unknown(certificateAuthorities: [])),
            (["*.corp,!db.corp ssh-ed25519 \(b)"], "web.corp", a, .changed(at(1), recordedType: "ssh-ed25519")),
            (["[local*]:2222 ssh-ed25519 \(a)"], "[localhost]:2222", a, .known(at(1))),
            (["web?? ssh-ed25519 \(a)"], "web01", a, .known(at(1))),
            (["[web]:2222 ssh-ed25519 \(a)"], "web", a, .unknown(certificateAuthorities: [])),
            (["web ssh-ed25519 \(b)"], "[web]:2222", a, .unknown(certificateAuthorities: [])),
            // Markers.
            (["@revoked web ssh-ed25519 \(a)", "web ssh-ed25519 \(a)"], "web", a, .revoked(at(1))),
            (["web ssh-ed25519 \(a)", "@revoked * ssh-ed25519 \(a)"], "anything", a, .revoked(at(2))),
            (["@revoked web ssh-ed25519 \(b)", "web ssh-ed25519 \(a)"], "web", a, .known(at(2))),
            (["@cert-authority *.corp ssh-ed25519 \(b)"], "a.corp", a, .unknown(certificateAuthorities: [at(1)])),
            (["@nonsense web ssh-ed25519 \(b)"], "web", a, .unknown(certificateAuthorities: [])),
            // Lines that cannot be read are skipped alone.
            (["web ssh-rsa \(b)", "web ssh-ed25519 \(a)"], "web", a, .known(at(2))),
            (["web 2048 65537 1234567", "web ssh-ed25519 !!notbase64", "web ssh-ed25519 \(a)"], "web", a, .known(at(3))),
            (["   \t", "  # indented comment", "\tweb\tssh-ed25519\t\(a)\tcomment words"], "web", a, .known(at(3))),
        ]
        for (lines, name, presented, expected) in rows {
            XCTAssertEqual(verdict(lines, name: name, key: presented), expected, "\(name) against \(lines)")
        }
    }

    func testBytesCRLFAndBadUTF8() {
        let crlf = Array("other ssh-ed25519 \(Self.keyB)\r\nweb ssh-ed25519 \(Self.keyA)\r\n".utf8)
        XCTAssertEqual(verdict(crlf, name: "web", key: Self.keyA), .known(.init(file: file, line: 2)))
        XCTAssertEqual(verdict(crlf, name: "other", key: Self.keyA), .changed(.init(file: file, line: 1), recordedType: "ssh-ed25519"))
        let badByte: [UInt8] = Array("caf".utf8) + [0xE9, 0xFF] + Array(" ssh-ed25519 \(Self.keyB)\nweb ssh-ed25519 \(Self.keyA)\n".utf8)
        XCTAssertEqual(
            verdict(badByte, name: "web", key: Self.keyA), .known(.init(file: file, line: 2)),
            "a byte that is not UTF-8 spoils its line only")
    }

    func testHashedNamesWrittenBySSHKeygen() {
        try! "Web.Example ssh-ed25519 \(Self.keyA)\n".write(toFile: file, atomically: true, encoding: .utf8)
        let hash = Process()
        hash.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        hash.arguments = ["-q", "-H", "-f", file]
        try! hash.run()
        hash.waitUntilExit()
        let hashed = try! String(contentsOfFile: file, encoding: .utf8)
        XCTAssertTrue(hashed.hasPrefix("|1|"), hashed)
        let knownHosts = KnownHosts(paths: [file])
        XCTAssertEqual(knownHosts.verdict(for: key(Self.keyA), name: "web.example"), .known(.init(file: file, line: 1)))
        XCTAssertEqual(knownHosts.verdict(for: key(Self.keyA), name: "WEB.EXAMPLE"), .known(.init(file: file, line: 1)))
        XCTAssertEqual(
            knownHosts.verdict(for: key(Self.keyB), name: "web.example"),
            .changed(.init(file: file, line: 1), recordedType: "ssh-ed25519"))
        XCTAssertEqual(knownHosts.verdict(for: key(Self.keyA), name: "other.example"), .unknown(certificateAuthorities: []))
    }

    func testRecordedKeyTypes() {
        try! "db1 ssh-ed25519 \(Self.keyA)\n@revoked db1 ssh-ed25519 \(Self.keyB)\nDB1 ecdsa-sha2-nistp256 \(Self.keyE)\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(KnownHosts(paths: [file]).recordedKeyTypes(for: "db1"), ["ssh-ed25519", "ecdsa-sha2-nistp256"])
        XCTAssertEqual(KnownHosts(paths: [file]).recordedKeyTypes(for: "db2"), [])
    }

    func testAddWritesALineThatMatchesPlainOrHashed() throws {
        let plain = directory + "/sub/known_hosts"
        try KnownHosts.add(key(Self.keyA), name: "[HostName]:2222", to: plain, hashName: false)
        XCTAssertEqual(try String(contentsOfFile: plain, encoding: .utf8), "[hostname]:2222 ssh-ed25519 \(Self.keyA)\n")
        XCTAssertEqual(
            KnownHosts(paths: [plain]).verdict(for: key(Self.keyA), name: "[hostname]:2222"),
            .known(.init(file: plain, line: 1)))

        let hashed = directory + "/hashed"
        try "no newline at the end".write(toFile: hashed, atomically: true, encoding: .utf8)
        try KnownHosts.add(key(Self.keyA), name: "web.example", to: hashed, hashName: true)
        let lines = try String(contentsOfFile: hashed, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[1].hasPrefix("|1|"), "\(lines)")
        XCTAssertFalse(lines[1].contains("web.example"))
        XCTAssertEqual(
            KnownHosts(paths: [hashed]).verdict(for: key(Self.keyA), name: "web.example"),
            .known(.init(file: hashed, line: 2)))
        // ssh itself finds the hashed entry.
        let find = Process()
        find.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        find.arguments = ["-F", "web.example", "-f", hashed]
        let output = Pipe()
        find.standardOutput = output
        try find.run()
        find.waitUntilExit()
        XCTAssertEqual(find.terminationStatus, 0)
        XCTAssertTrue(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("ssh-ed25519"))
    }

    func testSHA1AndHMACVectors() {
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(hex(SHA1.hash(Array("abc".utf8))), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(hex(SHA1.hash([UInt8]())), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(
            hex(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        XCTAssertEqual(hex(SHA1.hash([UInt8](repeating: 0x61, count: 1_000_000))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        // RFC 2202, cases 2 and 6 (a key longer than a block).
        XCTAssertEqual(
            hex(SHA1.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        XCTAssertEqual(
            hex(
                SHA1.hmac(
                    key: [UInt8](repeating: 0xAA, count: 80),
                    message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112")
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
        XCTAssertEqual(
            PrivateKeyFile(contents: "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"),
            PrivateKeyFile(kind: .rsa, isEncrypted: true))
        XCTAssertNil(PrivateKeyFile(contents: "not a key"))
    }
}
