import Sessions
import XCTest

final class HostPatternTests: XCTestCase {
    func testExpansions() throws {
        let cases: [(String, [String])] = [
            ("web1", ["web1"]),
            ("web[1-3]", ["web1", "web2", "web3"]),
            ("web[01-03,07]", ["web01", "web02", "web03", "web07"]),
            ("rack[1-2]-node[01-02]", ["rack1-node01", "rack1-node02", "rack2-node01", "rack2-node02"]),
            ("[08-10]", ["08", "09", "10"]),
            ("n[9-11]", ["n9", "n10", "n11"]),
            ("n[1-9/4]", ["n1", "n5", "n9"]),
            ("a,b,a", ["a", "b"]),
            ("web[1-2],db1,web2", ["web1", "web2", "db1"]),
            ("root@web[1-2]:2222", ["root@web1:2222", "root@web2:2222"]),
            ("[::1]:22", ["[::1]:22"]),
            ("alice@[fe80::1]:22,h[1-2]", ["alice@[fe80::1]:22", "h1", "h2"]),
            ("x[3]", ["x3"]),
        ]
        for (pattern, expected) in cases {
            XCTAssertEqual(try HostPattern.expand(pattern), expected, pattern)
        }
    }

    func testWhatIsRefused() {
        let cases: [(String, String)] = [
            ("web[3-1]", "reversed"),
            ("web[a-c]", "not a number"),
            ("web[]", "empty brackets"),
            ("web[1-2", "without its ']'"),
            ("web1-2]", "without its '['"),
            ("web1,,web2", "empty item"),
            ("web[1,,2]", "empty item"),
            ("n[001-44]", "different widths"),
            ("n[0-70000]", "more than 65536"),
            ("n[0-300]x[0-300]", "more than 65536"),
            ("n[1/2]", "a step goes with a range"),
            ("n[1-4/0]", "a step goes with a range"),
        ]
        for (pattern, reason) in cases {
            XCTAssertThrowsError(try HostPattern.expand(pattern), pattern) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(pattern): \(error)")
                XCTAssertTrue("\(error)".contains(pattern), "the message names the pattern: \(error)")
            }
        }
    }
}
