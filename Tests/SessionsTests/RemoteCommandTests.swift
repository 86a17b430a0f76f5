import Foundation
import Sessions
import XCTest

final class RemoteCommandTests: XCTestCase {
    func testOneWordIsACommandLine() {
        XCTAssertEqual(RemoteCommand.commandLine(["cd /tmp && ls"]), "cd /tmp && ls")
    }

    func testPlainWordsStayPlain() {
        XCTAssertEqual(RemoteCommand.commandLine(["ls", "-la", "/var/log", "a=b,c:d@e%f+g"]), "ls -la /var/log a=b,c:d@e%f+g")
    }

    /// The real test of quoting: a POSIX shell gives back exactly the words.
    func testShellGivesBackTheWords() throws {
        let words = [
            "printf", "%s\\n", "a b", "it's", "'", "''", "\"", "$HOME", "`id`", "$(id)", "*", "?", "~", "",
            "a\\b", "new\nline", "tab\there", ";", "&&", "|", "#", "ünïcödé", "-n", "!", "a!b", "!!", "x'!'y",
        ]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", RemoteCommand.commandLine(words)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(String(decoding: data, as: UTF8.self), words.dropFirst(2).map { $0 + "\n" }.joined())
    }
}
