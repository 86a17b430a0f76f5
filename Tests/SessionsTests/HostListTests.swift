import Sessions
import XCTest

final class HostListTests: XCTestCase {
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
            // pdsh's hostlist tests and ClusterShell's NodeSet docs.
            ("foo[1-5]", ["foo1", "foo2", "foo3", "foo4", "foo5"]),
            ("node[0-10/5]", ["node0", "node5", "node10"]),
            ("da[2-3]c[1-2]p[1-2]", ["da2c1p1", "da2c1p2", "da2c2p1", "da2c2p2", "da3c1p1", "da3c1p2", "da3c2p1", "da3c2p2"]),
            ("nova[030-032]", ["nova030", "nova031", "nova032"]),
            ("x[1,2,3]-y", ["x1-y", "x2-y", "x3-y"]),
        ]
        for (pattern, expected) in cases {
            XCTAssertEqual(try HostList.expand(pattern), expected, pattern)
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
            ("foo[01-3]", "different widths"),  // pdsh pads to the lower bound; refused here as ambiguous
            ("n[0-70000]", "more than 65536"),
            ("n[0-300]x[0-300]", "more than 65536"),
            ("n[1/2]", "a step goes with a range"),
            ("n[1-4/0]", "a step goes with a range"),
        ]
        // Each argument is a list of its own: brackets never pair across two.
        XCTAssertThrowsError(try HostList.expand(["a[1", "2]"]))
        XCTAssertEqual(try HostList.expand(["w[1-2]", "w2", "w3"]), ["w1", "w2", "w3"])
        for (pattern, reason) in cases {
            XCTAssertThrowsError(try HostList.expand(pattern), pattern) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(pattern): \(error)")
                XCTAssertTrue("\(error)".contains(pattern), "the message names the pattern: \(error)")
            }
        }
    }

    /// Folding, as `dshbak -c` and `clush -b` head a group; each folded text expands back to the same targets.
    func testFolding() throws {
        let cases: [([String], String)] = [
            (["web01", "web02", "web03", "web07"], "web[01-03,07]"),
            (["n1", "n3", "n2"], "n[1-3]"),
            (["n9", "n10", "n11"], "n[9-11]"),
            (["n08", "n09", "n10"], "n[08-10]"),
            (["n1", "n01"], "n[1,01]"),
            (["rack1-node01", "rack1-node02", "rack2-node01", "rack2-node02"], "rack1-node[01-02],rack2-node[01-02]"),
            (["root@web1:2222", "root@web2:2222"], "root@web[1-2]:2222"),
            (["db", "web1", "web2"], "db,web[1-2]"),
            (["a", "b"], "a,b"),
            (["web5"], "web5"),
            (["[::1]:22", "[::1]:23"], "[::1]:22,[::1]:23"),
            (["h1", "h1000000000000000000000"], "h1,h1000000000000000000000"),
        ]
        for (targets, folded) in cases {
            XCTAssertEqual(HostList.fold(targets), folded, "\(targets)")
            XCTAssertEqual(Set(try HostList.expand(folded)), Set(targets), folded)
        }
    }
}
