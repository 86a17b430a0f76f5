@testable import SSHClient
import XCTest

/// Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms as ssh resolves them (`+`, `-`, `^`, patterns).
final class AlgorithmListTests: XCTestCase {
    func testResolution() {
        let ctr = ["aes128-ctr", "aes192-ctr", "aes256-ctr"]
        let rows: [(String?, AlgorithmList.Kind, [String])] = [
            (nil, .ciphers, AlgorithmList.Kind.ciphers.defaults),
            ("aes256-ctr,aes128-ctr", .ciphers, ["aes256-ctr", "aes128-ctr"]),
            ("aes*-ctr", .ciphers, ctr),
            ("+3des-cbc", .ciphers, AlgorithmList.Kind.ciphers.defaults + ["3des-cbc"]),
            ("^3des-cbc", .ciphers, ["3des-cbc"] + AlgorithmList.Kind.ciphers.defaults),
            ("-chacha20*,aes*-gcm@openssh.com", .ciphers, ctr),
            ("+aes128-ctr", .ciphers, AlgorithmList.Kind.ciphers.defaults),
            ("-hmac-sha1,*etm*,umac*", .macs, ["hmac-sha2-256", "hmac-sha2-512"]),
            ("+diffie-hellman-group14-sha1", .kex, AlgorithmList.Kind.kex.defaults + ["diffie-hellman-group14-sha1"]),
            ("+ssh-rsa", .hostKeys, AlgorithmList.Kind.hostKeys.defaults + ["ssh-rsa"]),
        ]
        for (spec, kind, expected) in rows {
            XCTAssertEqual(AlgorithmList.resolve(spec, kind: kind), expected, "\(spec ?? "nil")")
        }
    }

    /// What pss offers by default is OpenSSH 9's list: none of the legacy algorithms libssh2 still has.
    func testDefaultsOfferNothingLegacy() {
        let legacy = [
            "3des-cbc", "arcfour", "arcfour128", "blowfish-cbc", "cast128-cbc", "aes128-cbc", "hmac-md5",
            "hmac-md5-96", "hmac-sha1-96", "hmac-ripemd160", "ssh-dss", "ssh-rsa", "diffie-hellman-group1-sha1",
            "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1",
        ]
        for kind in AlgorithmList.Kind.allCases {
            XCTAssertTrue(Set(AlgorithmList.resolve(nil, kind: kind)).isDisjoint(with: legacy), "\(kind)")
        }
    }

    func testBadNamesAreRefusedInTheConfig() {
        let rows: [(String, String)] = [
            ("Ciphers aes128-ctr,nonsense\n", "Bad Ciphers name 'nonsense'"),
            ("MACs +hmac-md4\n", "Bad MACs name"),
            ("KexAlgorithms -!curve25519-sha256\n", "negated"),
            ("HostKeyAlgorithms ssh-ed25519,,ssh-rsa\n", "empty name"),
        ]
        for (text, message) in rows {
            XCTAssertThrowsError(try SSHConfig.parse(text, file: "cfg"), text) { error in
                XCTAssertTrue((error as? SSHConfigError)?.message.contains(message) == true, "\(text): \(error)")
            }
        }
        XCTAssertNoThrow(try SSHConfig.parse("Ciphers +aes*-cbc\nHostKeyAlgorithms +ssh-rsa\n", file: "cfg"))
    }

    func testExplicitHostKeyListKeepsItsOrder() {
        XCTAssertTrue(AlgorithmList.allowsKnownHostsOrder(nil))
        XCTAssertTrue(AlgorithmList.allowsKnownHostsOrder("+ssh-rsa"))
        XCTAssertTrue(AlgorithmList.allowsKnownHostsOrder("-ssh-ed25519"))
        XCTAssertFalse(AlgorithmList.allowsKnownHostsOrder("ssh-ed25519"))
        XCTAssertFalse(AlgorithmList.allowsKnownHostsOrder("^ecdsa-sha2-nistp256"))
    }
}
