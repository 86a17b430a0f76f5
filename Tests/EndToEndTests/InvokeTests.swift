import Foundation
import TestSupport
import XCTest

/// `pss invoke --host` against a real sshd: streams, statuses, stdin, binary data, quoting, JSON.
final class InvokeTests: HostFixtureTestCase {
    /// --dry-run prints the targets host patterns name, as they would be addressed, and connects to nothing
    /// (the names do not resolve); a bad pattern is a usage error naming it, before anything connects.
    func testDryRunExpandsHostPatternsAndConnectsToNothing() {
        let dry = client.pss(
            [
                "invoke", "--host", "root@nosuch-web[01-03,07]:2222", "--host", "nosuch-db[1-2],nosuch-db1",
                "--dry-run", "--", "true",
            ], limit: 10)
        XCTAssertEqual(dry.status, 0, "\(dry)")
        XCTAssertEqual(
            dry.stdoutText,
            [
                "root@nosuch-web01:2222", "root@nosuch-web02:2222", "root@nosuch-web03:2222",
                "root@nosuch-web07:2222", "nosuch-db1", "nosuch-db2",
            ].map { $0 + "\n" }.joined())
        let bad = client.pss(["invoke", "--host", "web[3-1]", "--", "true"], limit: 10)
        XCTAssertEqual(bad.status, 64, "\(bad)")
        XCTAssertTrue(bad.stderrText.contains("host pattern 'web[3-1]'"), bad.stderrText)
    }

    /// The target as a plain word, as `new`, `enter` and `receive` take it and as ssh's HOST COMMAND: a host, a
    /// host list, a HOST/SESSION; with --host or --session the words are the command, as before.
    func testTheTargetAsAPlainWord() {
        let plain = client.pss(["invoke", "h1", "--", "echo", "a b"])
        XCTAssertEqual(plain.status, 0, "\(plain)")
        XCTAssertEqual(plain.stdoutText, "a b\n")
        // Without --, where the target ends and the command begins is not guessed (a command's options would be
        // taken for pss's): pss says how to write it.
        let sshLike = client.pss(["invoke", "h1", "echo", "ssh-like"])
        XCTAssertEqual(sshLike.status, 64, "\(sshLike)")
        XCTAssertTrue(sshLike.stderrText.contains("put -- before the command (its options are its own): pss invoke h1 -- COMMAND"), sshLike.stderrText)
        let listed = client.pss(["invoke", "--dry-run", "web[1-3/2]", "db1/deploy", "--", "true"], limit: 10)
        XCTAssertEqual(listed.stdoutText, "web1\nweb3\ndb1/deploy\n", "\(listed)")
        XCTAssertEqual(client.pss(["new", "h1", "--name", "plainword"]).status, 0)
        defer { _ = client.pss(["remove", "h1/plainword"]) }
        XCTAssertEqual(client.pss(["invoke", "h1/plainword", "--", "X=kept"]).status, 0)
        XCTAssertEqual(client.pss(["invoke", "h1/plainword", "--", "echo $X"]).stdoutText, "kept\n")
        // Options after the target are pss's, before -- as anywhere.
        let after = client.pss(["invoke", "h1/plainword", "--wait", "0", "--as-job", "--job-name", "late", "--", "echo $X"])
        XCTAssertEqual(after.status, 0, "\(after)")
        XCTAssertEqual(client.pss(["job", "receive", "late", "--session", "h1/plainword"]).stdoutText, "kept\n")
        // A command's options are never pss's: without --, pss refuses rather than guess (grep -v would be -v).
        let old = client.pss(["invoke", "--host", "h1", "grep", "-v", "x"], limit: 10)
        XCTAssertEqual(old.status, 64, "\(old)")
        XCTAssertTrue(old.stderrText.contains("put -- before the command"), old.stderrText)
        let both = client.pss(["invoke", "--host", "h1", "web2", "--", "true"], limit: 10)
        XCTAssertEqual(both.status, 64, "\(both)")
        let none = client.pss(["invoke", "--", "uptime"], limit: 10)
        XCTAssertEqual(none.status, 64, "\(none)")
        XCTAssertTrue(none.stderrText.contains("pss invoke HOST -- COMMAND"), none.stderrText)
        let noCommand = client.pss(["invoke", "h1", "--"], limit: 10)
        XCTAssertEqual(noCommand.status, 64, "\(noCommand)")
    }

    func testStdoutStderrAndStatusAreKeptApart() {
        let result = client.pss(["invoke", "--host", "h1", "--", "echo out; echo err >&2; exit 3"])
        XCTAssertEqual(result.status, 3, "\(result)")
        XCTAssertEqual(result.stdoutText, "out\n")
        XCTAssertEqual(result.stderrText, "err\n")
    }

    func testConnectionOptionsMayComeBeforeTheCommandName() {
        let result = ProcessRunner.run(
            PSSBinary.path, ["-F", client.configPath, "invoke", "--host", "h1", "--", "echo", "ok"],
            environment: client.baseEnvironment)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "ok\n")
    }

    func testOneWordIsAShellCommandLine() {
        let result = client.pss(["invoke", "--host", "h1", "--", "cd /tmp && pwd && echo $((6 * 7))"])
        XCTAssertEqual(result.stdoutText, "/tmp\n42\n", "\(result)")
    }

    func testSeveralWordsArriveAsTheyAre() {
        let words = ["a b", "it's", "$HOME", "`id`", "*", "", "semi;colon", "new\nline", "ünï"]
        let result = client.pss(["invoke", "--host", "h1", "--", "printf", "[%s]\\n"] + words)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, words.map { "[\($0)]\n" }.joined())
    }

    func testStdinIsForwarded() {
        let result = client.pss(["invoke", "--host", "h1", "--", "tr a-z A-Z"], stdin: Data("hello\nworld\n".utf8))
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "HELLO\nWORLD\n")
    }

    func testNoStdinFlagGivesEndOfFile() {
        let result = client.pss(["invoke", "--host", "h1", "-n", "--", "wc -c"], stdin: Data("ignored".utf8))
        XCTAssertEqual(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "0", "\(result)")
    }

    func testBinaryDataBothWays() throws {
        var bytes = [UInt8](repeating: 0, count: 3 * 1024 * 1024 + 17)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 7) }
        let data = Data(bytes)
        let echoed = client.pss(["invoke", "--host", "h1", "--", "cat"], stdin: data)
        XCTAssertEqual(echoed.status, 0, "\(echoed)")
        XCTAssertEqual(echoed.stdout, data, "binary data through cat differs")

        let file = Scratch("binary")
        try data.write(to: URL(fileURLWithPath: file.file("blob")))
        let toStderr = client.pss(["invoke", "--host", "h1", "--", "cat '\(file.file("blob"))' >&2"])
        XCTAssertEqual(toStderr.stderr, data, "binary data on stderr differs")
        XCTAssertEqual(toStderr.stdout, Data())
    }

    /// The keystream batching (CKeystreamBatching) is on by default and says so in -v; off, the same bytes pass.
    func testKeystreamBatchingIsOnAndCanBeTurnedOff() {
        let bytes = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131 >> 3) })
        let batched = client.pss(["-v", "invoke", "--host", "h1", "--", "cat"], stdin: bytes)
        XCTAssertEqual(batched.stdout, bytes)
        XCTAssertTrue(batched.stderrText.contains("cipher aes128-ctr (keystream batched)"), batched.stderrText)

        client.environment["PSS_CIPHER_BATCHING"] = "0"
        defer { client.environment["PSS_CIPHER_BATCHING"] = nil }
        let unbatched = client.pss(["-v", "invoke", "--host", "h1", "--", "cat"], stdin: bytes)
        XCTAssertEqual(unbatched.stdout, bytes)
        XCTAssertTrue(unbatched.stderrText.contains("cipher aes128-ctr, mac"), unbatched.stderrText)
    }

    func testExitBySignalIs128PlusTheSignal() {
        let result = client.pss(["invoke", "--host", "h1", "--", "kill -KILL $$"])
        XCTAssertEqual(result.status, 137, "\(result)")
        XCTAssertTrue(result.stderrText.contains("killed by signal KILL"), result.stderrText)
    }

    func testJSONResult() throws {
        let result = client.pss(["--json", "invoke", "--host", "h1", "--", "printf 'a\\tb\\001'; echo e >&2; exit 4"])
        XCTAssertEqual(result.status, 4, "\(result)")
        let lines = result.stdoutText.split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(object["host"] as? String, "h1")
        XCTAssertEqual(object["exitCode"] as? Int, 4)
        XCTAssertEqual(object["stdout"] as? String, "a\tb\u{1}")
        XCTAssertTrue(result.stdoutText.contains(#""a\tb\u0001""#), "control characters escaped as JSON requires")
        XCTAssertEqual(object["stderr"] as? String, "e\n")
        XCTAssertTrue(object["error"] is NSNull)
        XCTAssertNotNil(object["durationMs"] as? Int)
        for key in ["session", "sessionName", "jobId"] { XCTAssertTrue(object.keys.contains(key), key) }
        XCTAssertNil(object["stdoutBase64"], "valid UTF-8 is only text")
    }

    /// Output that is not UTF-8 keeps its bytes (base64) beside the text; stdout and stderr each as they are.
    func testJSONKeepsBytesThatAreNotText() throws {
        let result = client.pss(["--json", "invoke", "--host", "h1", "--", "printf 'ok\\377\\000\\351t\\n'; printf 'caf\\303\\251' >&2"])
        XCTAssertEqual(result.status, 0, "\(result)")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        let bytes = try XCTUnwrap((object["stdoutBase64"] as? String).flatMap { Data(base64Encoded: $0) })
        XCTAssertEqual(Array(bytes), [0x6F, 0x6B, 0xFF, 0x00, 0xE9, 0x74, 0x0A])
        XCTAssertEqual(object["stdout"] as? String, "ok\u{FFFD}\u{0}\u{FFFD}t\n")
        XCTAssertEqual(object["stderr"] as? String, "café")
        XCTAssertNil(object["stderrBase64"], "valid UTF-8 stderr is only text")
        XCTAssertNotNil(object["sessionName"] as? String)
    }

    func testLargeOutputArrivesWhole() {
        // Every line differs: output sent from the wrong place of the spool, or twice, shows.
        let result = client.pss(["invoke", "--host", "h1", "--", "seq 1 6000000; seq 1 20000 >&2"], limit: 120)
        XCTAssertEqual(result.status, 0, "\(result.status) \(result.stderrText.prefix(300))")
        XCTAssertEqual(result.stdout.count, 46_888_896)
        XCTAssertTrue(result.stdout == Data((1...6_000_000).map { "\($0)\n" }.joined().utf8), "stdout arrived whole and in order")
        XCTAssertEqual(result.stderrText, (1...20_000).map { "\($0)\n" }.joined())
    }

    func testCommandThatIgnoresStdinDoesNotHang() {
        let input = Data(repeating: 0x61, count: 8 * 1024 * 1024)
        let result = client.pss(["invoke", "--host", "h1", "--", "head -c 10"], stdin: input)
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertEqual(result.stdoutText, "aaaaaaaaaa")
    }
}
