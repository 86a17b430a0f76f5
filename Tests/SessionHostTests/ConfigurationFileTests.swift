import Foundation
import Glibc
import XCTest
import SessionWire

@testable import SessionHost

/// Configuration files as hosts read them: strict JSON, and the configuration's own rules, table by table.
final class ConfigurationFileTests: XCTestCase {
    func testJSONIsReadStrictly() {
        let accepted: [(String, JSONValue)] = [
            (#"{}"#, .object([])),
            (
                #" { "a" : [1, -2, true, false, null, "x"] } "#,
                .object([("a", .array([.integer(1), .integer(-2), .bool(true), .bool(false), .null, .string("x")]))])
            ),
            (#"{"e":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}"#, .object([("e", .string("\"\\/\u{8}\u{c}\n\r\té😀"))])),
            (#"{"nested":{"deeper":{"x":0}}}"#, .object([("nested", .object([("deeper", .object([("x", .integer(0))]))]))])),
            ("[\"caf\u{e9}\"]", .array([.string("café")])),
        ]
        for (text, expected) in accepted {
            XCTAssertEqual(try JSONValue(parsing: Array(text.utf8)), expected, text)
        }
        let refused: [(String, String)] = [
            ("", "unexpected end"),
            (#"{"a":1,"a":2}"#, "given twice"),
            (#"{"a":1.5}"#, "whole numbers"),
            (#"{"a":1e3}"#, "whole numbers"),
            (#"{"a":01}"#, "may not start with 0"),
            (#"{"a":99999999999999999999}"#, "too large"),
            (#"{"a":1} x"#, "after the value"),
            (#"{"a":1,}"#, "expected a key"),
            (#"[1,]"#, "unexpected character"),
            (#"{'a':1}"#, "expected a key"),
            ("{\"a\":\"tab\there\"}", "control character"),
            (#"{"a":"\ud800"}"#, "expected \\u"),
            (#"{"a":"\udc00"}"#, "lone surrogate"),
            (#"{"a":"\x"}"#, "unknown escape"),
            (#"{"a":"\u+041"}"#, "bad \\u escape"),
            (#"{"a":"\u-000"}"#, "bad \\u escape"),
            (#"{"a":tru}"#, "expected true"),
            (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "nested more than"),
            ("{\"a\":\"\u{FF}\"}", "not valid UTF-8"),
        ]
        for (text, reason) in refused {
            let bytes = text == "{\"a\":\"\u{FF}\"}" ? [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D] : Array(text.utf8)
            XCTAssertThrowsError(try JSONValue(parsing: bytes), text) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(text): \(error)")
            }
        }
        XCTAssertThrowsError(try JSONValue(parsing: Array(repeating: 0x20, count: 70_000)))
    }

    /// Accounts as the tests say: users root (0), alice, deploy, and wheelie (whose group is root's); groups ops.
    struct Accounts: SessionConfiguration.Accounts {
        func uid(ofUser name: String) -> uid_t? { ["root": 0, "alice": 1000, "deploy": 1001, "wheelie": 1002, "dockery": 1003][name] }
        func groupExists(_ name: String) -> Bool { name == "ops" }
        func primaryGroup(ofUser name: String) -> gid_t? { ["root": 0, "alice": 1000, "deploy": 1001, "wheelie": 0, "dockery": 1003][name] }
        func groups(ofUser name: String) -> [String] { name == "dockery" ? ["dockery", "docker"] : [name] }
    }

    private func parse(_ text: String, name: String = "ops") throws -> SessionConfiguration {
        try SessionConfiguration(name: name, parsing: Array(text.utf8), accounts: Accounts())
    }

    func testAConfigurationIsReadWhole() throws {
        let configuration = try parse(
            """
            {"runAs": "deploy", "allowUsers": ["alice"], "allowGroups": ["ops"],
             "allowedCommands": ["uptime", "systemctl status *"], "idleTimeoutSeconds": 3600, "maxSessionsPerUser": 5,
             "environment": {"LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC", "PSS_TEAM": "blue"}, "transcriptDirectory": "/var/log/pss/ops",
             "lockUsers": ["alice"], "maxBufferBytes": 1048576, "maxJobsPerUser": 20}
            """)
        XCTAssertEqual(configuration.maxBufferBytes, 1 << 20)
        XCTAssertEqual(configuration.jobsPerUser, 20)
        XCTAssertEqual(try parse(#"{"idleTimeoutSeconds": 600}"#).jobsPerUser, 1000, "a thousand jobs by default")
        XCTAssertEqual(configuration.lockUsers, ["alice"])
        XCTAssertEqual(configuration.runAs, "deploy")
        XCTAssertEqual(configuration.allowUsers, ["alice"])
        XCTAssertEqual(configuration.allowGroups, ["ops"])
        XCTAssertEqual(configuration.allowedCommands, ["uptime", "systemctl status *"])
        XCTAssertEqual(configuration.idleTimeoutSeconds, 3600)
        XCTAssertEqual(configuration.maxSessionsPerUser, 5)
        XCTAssertEqual(configuration.environment.map(\.name), ["LANG", "LC_TIME", "TZ", "PSS_TEAM"])
        XCTAssertTrue(configuration.allows(user: "alice", groups: []))
        XCTAssertTrue(configuration.allows(user: "bob", groups: ["ops"]))
        XCTAssertFalse(configuration.allows(user: "bob", groups: ["users"]))
        XCTAssertTrue(try parse(#"{"idleTimeoutSeconds": 600}"#).allows(user: "anyone", groups: []))
        // root with a list of commands: allowed (the commands are the boundary).
        XCTAssertEqual(try parse(#"{"runAs": "root", "allowUsers": ["alice"], "allowedCommands": ["uptime"]}"#).runAs, "root")
    }

    func testEveryProblemIsRefusedWithItsReason() {
        let cases: [(String, String, name: String)] = [
            (#"{}"#, "sets nothing", "ops"),
            (#"[]"#, "one JSON object", "ops"),
            (#"{"runas": "deploy"}"#, "unknown field \"runas\"", "ops"),
            (#"{"runAs": "nobody-here"}"#, "no user \"nobody-here\"", "ops"),
            (#"{"allowUsers": ["ghost"]}"#, "no user \"ghost\"", "ops"),
            (#"{"allowGroups": ["wheel"]}"#, "no group \"wheel\"", "ops"),
            (#"{"runAs": "root", "allowUsers": ["alice"]}"#, "root shell", "ops"),
            (#"{"runAs": "wheelie", "allowUsers": ["alice"]}"#, "root shell", "ops"),
            (#"{"runAs": "deploy"}"#, "needs allowUsers or allowGroups", "ops"),
            (#"{"allowUsers": ["DBA"]}"#, "not a plain account name", "ops"),
            (#"{"allowGroups": ["ALL"]}"#, "not a plain account name", "ops"),
            (#"{"allowUsers": ["alice\u0000, ALL"]}"#, "not a plain account name", "ops"),
            (#"{"runAs": "deploy\nALL", "allowUsers": ["alice"]}"#, "not a plain account name", "ops"),
            (#"{"allowUsers": ["-alice"]}"#, "not a plain account name", "ops"),
            (#"{"environment": {"A": "x\u001b[2J"}}"#, "control characters", "ops"),
            (#"{"allowedCommands": []}"#, "is empty", "ops"),
            (#"{"allowedCommands": ["ls; rm"]}"#, "allowedCommands", "ops"),
            (#"{"allowedCommands": [1]}"#, "strings only", "ops"),
            (#"{"idleTimeoutSeconds": 5}"#, "from 60", "ops"),
            (#"{"idleTimeoutSeconds": "1h"}"#, "wrong type", "ops"),
            (#"{"maxSessionsPerUser": 0}"#, "from 1", "ops"),
            (#"{"environment": {"LD_PRELOAD": "/tmp/x.so"}}"#, "may not be set", "ops"),
            (#"{"environment": {"BASH_ENV": "/tmp/x"}}"#, "may not be set", "ops"),
            (#"{"runAs": "dockery", "allowUsers": ["alice"]}"#, "has root's powers (group docker)", "ops"),
            (#"{"transcriptDirectory": "/var/log/pss/..", "runAs": "deploy", "allowUsers": ["alice"]}"#, "no '.', '..' or empty parts", "ops"),
            (#"{"transcriptDirectory": "/var/log//pss", "runAs": "deploy", "allowUsers": ["alice"]}"#, "no '.', '..' or empty parts", "ops"),
            (#"{"transcriptDirectory": "/var/log/./pss", "runAs": "deploy", "allowUsers": ["alice"]}"#, "no '.', '..' or empty parts", "ops"),
            (#"{"maxBufferBytes": 10}"#, "from 65536", "ops"),
            (#"{"maxBufferBytes": 99999999999}"#, "from 65536", "ops"),
            (#"{"maxJobsPerUser": 0}"#, "from 1 to 100000", "ops"),
            (#"{"environment": {"A B": "x"}}"#, "not a variable name", "ops"),
            (#"{"environment": {"GCONV_PATH": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"LOCPATH": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"GLIBC_TUNABLES": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"PERL5OPT": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"PYTHONPATH": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"NODE_OPTIONS": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"RUBYOPT": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"JAVA_TOOL_OPTIONS": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"MALLOC_CHECK_": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"PSS_SESSION_ID": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"PSS_HOST_DIR": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"PSS_": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"HOSTALIASES": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"OPS_TEAM": "x"}}"#, "may not be set", "ops"),
            (#"{"environment": {"A": 1}}"#, "must be a string", "ops"),
            (#"{"startupScript": "relative.sh"}"#, "absolute path", "ops"),
            (#"{"transcriptDirectory": "/var/log/x\n"}"#, "absolute path", "ops"),
            (#"{"transcriptDirectory": "/var/log/pss/x"}"#, "transcriptDirectory needs runAs", "ops"),
            (#"{"allowedCommands": ["uptime"], "startupScript": "/etc/pss/x.sh"}"#, "startupScript needs a shell", "ops"),
            (#"{"allowUsers": ["alice"], "lockUsers": ["root"]}"#, "lock the administrator out", "ops"),
            (#"{"allowUsers": ["alice"], "lockUsers": ["deploy"]}"#, "not in allowUsers", "ops"),
            (#"{"lockUsers": ["ghost"]}"#, "no user \"ghost\"", "ops"),
            (#"{"lockUsers": ["ALL"]}"#, "not a plain account name", "ops"),
            (#"{"idleTimeoutSeconds": 600}"#, "configuration name", "../etc"),
            (#"{"idleTimeoutSeconds": 600}"#, "configuration name", ".hidden"),
            (#"{"idleTimeoutSeconds": 600}"#, "configuration name", "-x"),
            (#"{"idleTimeoutSeconds": 600}"#, "configuration name", "a/b"),
            (#"{"idleTimeoutSeconds": 600}"#, "configuration name", ""),
            (#"{"idleTimeoutSeconds": 600}"#, "configuration name", String(repeating: "a", count: 65)),
            (#"{"idleTimeoutSeconds": 600}"#, "configuration name", "op\u{2024}s"),
        ]
        for (text, reason, name) in cases {
            XCTAssertThrowsError(try parse(text, name: name), "\(name): \(text)") { error in
                XCTAssertTrue("\(error)".contains(reason), "\(name): \(text): \(error)")
            }
        }
        // Every problem at once, not only the first.
        XCTAssertThrowsError(try parse(#"{"runAs": "ghost", "allowGroups": ["wheel"], "allowUsers": ["alice"], "extra": 1}"#)) { error in
            XCTAssertEqual((error as? SessionConfiguration.Refusal)?.problems.count, 3, "\(error)")
        }
    }

    /// The examples under Config/configurations are valid (on a host that has their users and groups).
    func testTheExamplesAreValid() throws {
        struct ExampleAccounts: SessionConfiguration.Accounts {
            func uid(ofUser name: String) -> uid_t? { ["deploy", "alice", "bob"].contains(name) ? 1000 : nil }
            func groupExists(_ name: String) -> Bool { name == "ops" }
            func primaryGroup(ofUser name: String) -> gid_t? { 1000 }
            func groups(ofUser name: String) -> [String] { [name] }
        }
        let directory = String(#filePath.prefix(upTo: #filePath.range(of: "/Tests/")!.lowerBound)) + "/Config/configurations"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
        XCTAssertGreaterThanOrEqual(files.count, 2)
        for file in files {
            let bytes = try XCTUnwrap(FileManager.default.contents(atPath: directory + "/" + file))
            XCTAssertNoThrow(try SessionConfiguration(name: String(file.dropLast(5)), parsing: [UInt8](bytes), accounts: ExampleAccounts()), file)
        }
    }

    func testSudoersDropInsAreNamedOneToOneAndGrantOnlyTheHelper() throws {
        let registry = ConfigurationRegistry()
        let names = ["ops", "web.ops", "web_ops", "web__ops", "web_dops"]
        let paths = names.map(registry.sudoersPath(for:))
        XCTAssertEqual(Set(paths).count, names.count, "\(paths)")
        XCTAssertTrue(paths.allSatisfy { !$0.dropFirst("/etc/sudoers.d/".count).contains(".") }, "\(paths)")
        let text = registry.sudoersText(for: try parse(#"{"runAs": "deploy", "allowUsers": ["alice"], "allowGroups": ["ops"]}"#))
        // Quoted: sudoers takes the names literally, never as aliases.
        XCTAssertTrue(text.contains("\n\"alice\", \"%ops\" ALL = (\"deploy\") NOPASSWD: /usr/local/lib/pss/pss-host runas ops\n"), text)
    }

    /// A transcript line is one line whatever the command line held, and shows an auditor what was given.
    func testTranscriptLinesEscapeWhatATerminalWouldInterpret() {
        let cases: [(String, String)] = [
            ("uptime", #""uptime""#),
            ("a\nb\tc\u{1B}[2J", #""a\x0ab\x09c\x1b[2J""#),
            ("say \"hi\" \\ bye", #""say \"hi\" \\ bye""#),
            ("x\u{9B}31m", #""x\x9b31m""#),  // C1 CSI
            ("abc\u{202E}gpj.exe", #""abc\u{202e}gpj.exe""#),  // right-to-left override
            ("caf\u{E9}", "\"caf\u{E9}\""),
        ]
        for (line, shown) in cases {
            XCTAssertEqual(Transcript.quoted(line), shown, line)
        }
    }

    /// A line no user can make long: a refused line of 120,000 control bytes is recorded by its first 1024 bytes
    /// (escaped), its length and its SHA-256; a short line whole.
    func testATranscriptEntryIsBoundedWhateverTheLine() {
        let flood = String(repeating: "\u{1}", count: 120_000)
        let entry = Transcript.entry(session: "s", id: "i", user: "alice", runAs: "deploy", event: "refused (x)", line: flood)
        XCTAssertLessThan(entry.utf8.count, 5 * Transcript.shownLineBytes + 300, "bounded")
        XCTAssertTrue(entry.contains("... length=120000 sha256=\(SHA256.hex(Array(flood.utf8)))"), entry)
        XCTAssertEqual(entry.filter { $0 == "\n" }.count, 1, "one line")
        // Cut at a character's start: the prefix stays text.
        let wide = String(repeating: "é", count: 2000)
        XCTAssertTrue(
            Transcript.entry(session: "s", id: "i", user: "a", runAs: "d", event: "typed", line: wide).contains(String(repeating: "é", count: 512) + "\"..."))
        XCTAssertTrue(Transcript.entry(session: "s", id: "i", user: "a", runAs: "d", event: "typed", line: "uptime").hasSuffix("typed line=\"uptime\"\n"))
    }

    /// Each user has a burst, then a rate; another user's allowance is their own.
    func testTheTranscriptRateHoldsEachUserToTheirOwnAllowance() {
        var rate = TranscriptRate()
        var taken = 0
        while rate.take(2000, for: "eve", now: 1000) { taken += 2000 }
        XCTAssertEqual(taken, TranscriptRate.burst / 2000 * 2000, "the burst, then no more")
        XCTAssertTrue(rate.take(2000, for: "alice", now: 1000), "alice is not held to eve's")
        XCTAssertFalse(rate.take(TranscriptRate.rate + 2000, for: "eve", now: 2000), "a second gives back the rate, no more")
        XCTAssertTrue(rate.take(TranscriptRate.rate / 2, for: "eve", now: 2000))
        XCTAssertEqual(rate.secondsUntil(TranscriptRate.rate * 3, for: "eve"), 3)
        rate.countUnrecorded(for: "eve")
        rate.countUnrecorded(for: "eve")
        XCTAssertEqual(rate.takeUnrecorded(for: "eve"), 2)
        XCTAssertEqual(rate.takeUnrecorded(for: "eve"), 0)
    }

    /// A session's transcript past its bound is rotated: the newest entries kept, at most four files of the bound.
    func testATranscriptFileIsRotatedAtItsBound() throws {
        let directory = NSTemporaryDirectory() + "pss-transcript-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let transcript = Transcript(directory: directory)
        let entry = String(repeating: "x", count: 1 << 16) + "\n"
        for _ in 0..<(Transcript.fileLimit / entry.utf8.count * 5) { XCTAssertTrue(transcript.record(entry, id: "s1")) }
        XCTAssertTrue(transcript.record("the last\n", id: "s1"))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        XCTAssertEqual(files, ["s1.log", "s1.log.1", "s1.log.2", "s1.log.3"])
        for file in files {
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: directory + "/" + file)[.size] as? Int)
            XCTAssertLessThanOrEqual(size, Transcript.fileLimit, file)
        }
        XCTAssertTrue(try String(contentsOfFile: directory + "/s1.log", encoding: .utf8).hasSuffix("the last\n"))
    }
}
