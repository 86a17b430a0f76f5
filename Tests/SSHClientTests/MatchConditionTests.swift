import Foundation
@testable import SSHClient
import XCTest

/// ssh_config's Match criteria, evaluated as OpenSSH 9.2 evaluates them (each row checked against `ssh -G` when it
/// was written): tested against what has been obtained when the line is reached.
final class MatchConditionTests: XCTestCase {
    private func resolve(_ text: String, _ host: String, commandLine: [String] = []) throws -> ConnectionSettings {
        let config = try SSHConfig.parse(text, file: "cfg")
        let options = try commandLine.map(SSHConfigResolver.commandLineOption)
        return try SSHConfigResolver(commandLine: options, configs: [config]).resolve(try HostSpec(parsing: host))
    }

    func testCriteria() throws {
        let me = LocalUser.name
        // (config, host as typed, command line, expected Port: 2000 when the Match block applied, else 22)
        let rows: [(String, String, [String], Int)] = [
            // `host` tests the HostName obtained so far, not the alias.
            ("Host web\n HostName Real.Example.COM\nMatch host real.example.com\n Port 2000\n", "web", [], 2000),
            ("Match host real.example.com\n Port 2000\nHost web\n HostName real.example.com\n", "web", [], 22),
            ("Match host web\n Port 2000\nHost web\n HostName other\n", "web", [], 2000),
            ("Host web\n HostName %h.example.com\nMatch host web.example.com\n Port 2000\n", "web", [], 2000),
            ("Match host WEB\n Port 2000\n", "web", [], 2000),
            ("Match host web,!db*\n Port 2000\n", "db1", [], 22),
            ("Match host *,!db*\n Port 2000\n", "web", [], 2000),
            ("Match !host db*\n Port 2000\n", "web", [], 2000),
            // `originalhost` tests the host as typed.
            ("Host web\n HostName real\nMatch originalhost web\n Port 2000\n", "web", [], 2000),
            ("Host web\n HostName real\nMatch originalhost real\n Port 2000\n", "web", [], 22),
            // `user` tests the remote user obtained so far (user@, -l, User lines), case-sensitively.
            ("Match user deploy\n Port 2000\n", "deploy@web", [], 2000),
            ("Match user deploy\n Port 2000\n", "web", ["User=deploy"], 2000),
            ("Host web\n User deploy\nMatch user deploy\n Port 2000\n", "web", [], 2000),
            ("Match user Deploy\n Port 2000\n", "deploy@web", [], 22),
            ("Match user deploy\n Port 2000\n", "web", [], me == "deploy" ? 2000 : 22),
            ("Match localuser \(me)\n Port 2000\n", "web", [], 2000),
            ("Match localuser nobody-\(me)\n Port 2000\n", "web", [], 22),
            // Several criteria must all hold.
            ("Match host web user deploy\n Port 2000\n", "deploy@web", [], 2000),
            ("Match host web user deploy\n Port 2000\n", "other@web", [], 22),
            // exec: the command's status decides; it runs only when the criteria before it hold.
            ("Match exec true\n Port 2000\n", "web", [], 2000),
            ("Match exec false\n Port 2000\n", "web", [], 22),
            ("Match !exec false\n Port 2000\n", "web", [], 2000),
            (
                "Match exec \"test %h = web.example && test %n = w && test %p = 22\"\n Port 2000\n", "w",
                ["HostName=web.example"], 2000
            ),
            (
                "Host w\n HostName web.example\nMatch exec \"test %h = web.example && test %n = w && test %r = bob\"\n Port 2000\n",
                "bob@w", [], 2000
            ),
            // %k in Match exec: HostKeyAlias, else the HostName so far (in paths it is the host as given).
            ("Host w\n HostName web.example\nMatch exec \"test %k = web.example\"\n Port 2000\n", "w", [], 2000),
            // canonical and final hold only in the second reading, which `Match final` asks for.
            ("Match final\n Port 2000\n", "web", [], 2000),
            ("Match canonical\n Port 2000\n", "web", [], 22),
            ("Match canonical\n Port 2000\nMatch final\n User x\n", "web", [], 2000),
            ("CanonicalizeHostname yes\nMatch canonical\n Port 2000\n", "web", [], 2000),
            ("Match !final\n Port 2000\n", "web", [], 2000),
            ("Match !final\n User x\nMatch canonical\n Port 2000\n", "web", [], 2000),
            ("Match final all\n Port 2000\n", "web", [], 2000),
            // In the second reading Host lines test the settled host name.
            ("Host web\n HostName real\nMatch final\nHost real\n Port 2000\n", "web", [], 2000),
            ("Match all\n Port 2000\n", "web", [], 2000),
            ("Match !all\n Port 2000\n", "web", [], 22),
        ]
        for (text, host, commandLine, port) in rows {
            XCTAssertEqual(try resolve(text, host, commandLine: commandLine).port, port, "\(host) \(commandLine) with:\n\(text)")
        }
    }

    func testExecSeesItsTokensAndItsStdoutIsDiscarded() throws {
        let scratch = NSTemporaryDirectory() + "pss-exec-\(getpid())"
        defer { unlink(scratch) }
        let settings = try resolve("Match exec \"echo shown; echo %h:%p:%r:%n:%u >\(scratch)\"\n User fromexec\n", "alice@h:2022")
        XCTAssertEqual(settings.user, "alice", "user@ came first")
        XCTAssertEqual(try String(contentsOfFile: scratch, encoding: .utf8), "h:2022:alice:h:\(LocalUser.name)\n")
    }

    func testExecIsSkippedOnceAnEarlierCriterionFails() throws {
        let marker = NSTemporaryDirectory() + "pss-exec-skip-\(getpid())"
        unlink(marker)
        _ = try resolve("Match host other exec \"touch \(marker)\"\n User x\n", "web")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    func testMalformedMatchLinesAreRefusedWithTheirLine() {
        let rows: [(String, String)] = [
            ("Host h\nMatch tagged x\n User u\n", "unsupported Match criterion 'tagged'"),
            ("Match localnetwork 10.0.0.0/8\n", "unsupported Match criterion"),
            ("Match\n", "at least one criterion"),
            ("Match host\n", "needs an argument"),
            ("Match all host x\n", "cannot be combined"),
            ("Match host x user y all\n", "cannot be combined"),
        ]
        for (text, message) in rows {
            XCTAssertThrowsError(try SSHConfig.parse(text, file: "cfg"), text) { error in
                let error = error as? SSHConfigError
                XCTAssertEqual(error?.line, text.hasPrefix("Host") ? 2 : 1, text)
                XCTAssertTrue(error?.message.contains(message) == true, "\(text): \(String(describing: error))")
            }
        }
    }

    /// A block's options are never dropped: a Match whose criteria hold applies whatever it sets.
    func testSecurityOptionsInsideMatchBlocksApply() throws {
        let text = "Match user root,deploy\n StrictHostKeyChecking yes\n UserKnownHostsFile /pinned\n"
        let settings = try resolve(text, "deploy@h")
        XCTAssertEqual(settings.strictHostKeyChecking, .yes)
        XCTAssertEqual(settings.userKnownHostsFiles, ["/pinned"])
    }
}

final class HostPatternTests: XCTestCase {
    func testLists() {
        let rows: [(String, String, HostPattern.ListMatch)] = [
            ("web1", "web*", .matched),
            ("web1", "db*,web?", .matched),
            ("web12", "web?", .notMatched),
            ("db1", "*,!db*", .negated),
            ("WEB1", "web*", .matched),  // match_hostname: host names without case
            ("web1", "WEB*", .matched),
            ("[web]:2222", "[web]:*", .matched),
            ("[localhost]:2222", "[local*]:2222", .matched),
            ("localhost", "[local*]:2222", .notMatched),
            ("a.b.c", "*.c", .matched),
            ("", "*", .matched),
        ]
        for (host, list, expected) in rows {
            XCTAssertEqual(HostPattern.matchHostname(host, list), expected, "\(host) against \(list)")
        }
        XCTAssertEqual(HostPattern.matchList("Deploy", "deploy", lowercasingPatterns: false), .notMatched)
    }
}
