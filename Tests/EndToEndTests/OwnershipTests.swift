import Foundation
import TestSupport
import XCTest

/// A session belongs to the remote user who made it: another account on the same host, logged in as itself,
/// cannot list, invoke in, receive from, connect, disconnect or remove it, and is told exactly what it would be
/// told of a session that does not exist (254), so it learns nothing of it. (Each user has a daemon of their own
/// under their own 0700 host directory; the relay checks the daemon's uid with SO_PEERCRED.)
final class OwnershipTests: XCTestCase {
    func testAnotherUserCannotReachOrLearnOfASession() throws {
        let user = "pss-test-other"
        LocalAccount.ensure(user, password: "other-password", shell: "/bin/bash")
        defer { LocalAccount.remove(user) }
        let server = SSHServer()
        let owner = ClientMachine(servers: ["h": server])
        let other = ClientMachine(loggingInAs: user, to: server)
        XCTAssertEqual(owner.pss(["new", "h", "--name", "mine"]).status, 0)
        defer { _ = owner.pss(["remove", "h/mine"]) }
        let id = try XCTUnwrap(
            owner.pss(["get", "--host", "h", "--json"]).stdoutText.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }.first?["id"] as? String)

        XCTAssertEqual(other.pss(["get", "--host", "h"]).stdoutText.split(separator: "\n").count, 2, "only the table's header")
        for (existing, missing) in [("h/mine", "h/nosuch"), ("h/\(id)", "h/00000000-0000-4000-8000-000000000000")] {
            for command in [
                ["invoke", "--session", existing, "--", "id"], ["receive", existing], ["connect", existing],
                ["connect", "--force", existing], ["disconnect", existing], ["remove", existing],
            ] {
                let tried = other.pss(command)
                let control = other.pss(command.map { $0 == existing ? missing : $0 })
                XCTAssertEqual(tried.status, 254, "\(command): \(tried)")
                let reword = { (text: String, name: String) in
                    text.replacingOccurrences(of: name.split(separator: "/").last.map(String.init) ?? name, with: "NAME")
                }
                XCTAssertEqual(
                    reword(tried.stderrText, existing), reword(control.stderrText, missing),
                    "the same answer as for a session that does not exist: \(command)")
            }
        }
        let still = owner.pss(["invoke", "--session", "h/mine", "--", "echo untouched"])
        XCTAssertEqual(still.stdoutText, "untouched\n", still.description)
    }
}
