@testable import SSHClient
import XCTest

/// What reaches the terminal from outside is escaped: C0, DEL, C1 and the bidirectional controls.
final class DisplayTextTests: XCTestCase {
    func testEscapes() {
        let rows: [(String, Bool, String)] = [
            ("plain text", false, "plain text"),
            ("two\nlines\tand tab", true, "two\nlines\tand tab"),
            ("two\nlines", false, "two\\x0alines"),
            ("\u{1B}]0;title\u{07}", true, "\\x1b]0;title\\x07"),
            ("del\u{7F}", true, "del\\x7f"),
            ("c1 \u{9B}2J \u{85}", true, "c1 \\u{9b}2J \\u{85}"),
            ("bidi \u{202E}txt.exe\u{2066}", true, "bidi \\u{202e}txt.exe\\u{2066}"),
            ("café ✓ 日本", true, "café ✓ 日本"),
            ("cr\r", true, "cr\\x0d"),
        ]
        for (text, keepingNewlines, expected) in rows {
            XCTAssertEqual(text.escapingControlCharacters(keepingNewlines: keepingNewlines), expected, text.debugDescription)
        }
        XCTAssertEqual(String(repeating: "a", count: 300).sanitizedForDisplay.count, 201)
    }
}
