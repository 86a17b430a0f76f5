@testable import SSHClient
import XCTest

final class HostSpecTests: XCTestCase {
    func testForms() throws {
        XCTAssertEqual(try HostSpec(parsing: "web"), HostSpec(host: "web"))
        XCTAssertEqual(try HostSpec(parsing: "alice@web"), HostSpec(user: "alice", host: "web"))
        XCTAssertEqual(try HostSpec(parsing: "web:2222"), HostSpec(host: "web", port: 2222))
        XCTAssertEqual(try HostSpec(parsing: "alice@web:2222"), HostSpec(user: "alice", host: "web", port: 2222))
        XCTAssertEqual(try HostSpec(parsing: "::1"), HostSpec(host: "::1"))
        XCTAssertEqual(try HostSpec(parsing: "[::1]:2222"), HostSpec(host: "::1", port: 2222))
        XCTAssertEqual(try HostSpec(parsing: "bob@[fe80::1]"), HostSpec(user: "bob", host: "fe80::1"))
        XCTAssertEqual(try HostSpec(parsing: "a@b@host"), HostSpec(user: "a@b", host: "host"))
    }

    func testRoundTripDescription() throws {
        for text in ["web", "alice@web", "web:2222", "[::1]:2222", "u@[::1]:22"] {
            XCTAssertEqual(try HostSpec(parsing: text).description, text)
        }
    }

    func testRejects() {
        for text in ["", "@web", "web:", "web:0", "web:65536", "web:x", "[::1", "[::1]x", "-oProxyCommand=x", "a b", "web/..", "a;b", "$(id)", "a\u{7}b", "u@"]
        {
            XCTAssertThrowsError(try HostSpec(parsing: text), text.debugDescription)
        }
    }

    func testErrorsShowControlCharactersSafely() {
        XCTAssertThrowsError(try HostSpec(parsing: "a\u{1b}[31mb")) { error in
            XCTAssertFalse("\(error)".contains("\u{1b}"))
            XCTAssertTrue("\(error)".contains("\\x1b"))
        }
    }

    /// As ssh 9.6+'s valid_ruser: `%r` reaches Match exec, so a user name cannot carry shell syntax
    /// (CVE-2023-51385's pattern).
    func testUserNamesAShellWouldReadAreRefused() {
        for text in ["$(touch x)@h", "a;b@h", "`id`@h", "-oProxyCommand=x@h", "a|b@h", "a b -x@h", "x\\@h"] {
            XCTAssertThrowsError(try HostSpec(parsing: text), text)
        }
        for text in ["deploy@h", "first.last@h", "user$1@h", "DOMAIN\\user@h", "a-b_c@h"] {
            XCTAssertNoThrow(try HostSpec(parsing: text), text)
        }
    }
}
