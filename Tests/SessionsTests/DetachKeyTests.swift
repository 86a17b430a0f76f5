import Sessions
import XCTest

final class DetachKeyTests: XCTestCase {
    func testKeysAsUsersWriteThem() throws {
        let cases: [(String, UInt8?)] = [
            ("ctrl-\\", 0x1C), ("C-\\", 0x1C), ("^\\", 0x1C), ("ctrl-a", 0x01), ("C-A", 0x01), ("^]", 0x1D),
            ("ctrl-z", 0x1A), ("^@", 0x00), ("ctrl-_", 0x1F), ("none", nil), ("NONE", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(try DetachKey.parse(text), expected, text)
        }
    }

    func testWhatIsNotAControlKeyIsRefused() {
        for text in ["", "a", "ctrl-", "ctrl-ab", "^1", "ctrl-é", "alt-x", "^ "] {
            XCTAssertThrowsError(try DetachKey.parse(text), text)
        }
    }
}
