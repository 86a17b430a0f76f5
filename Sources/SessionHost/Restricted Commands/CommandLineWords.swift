/// A command line of a restricted configuration cut into words, once, by the rules users and tests rely on (README,
/// "Restricted configurations"): no shell ever reads it, so nothing in it may mean what a shell would make of it.
///
/// - Words are split on ASCII space only; single and double quotes group and are removed, with no expansion of any
///   kind; an unbalanced quote is refused.
/// - Refused anywhere, even inside quotes: every control byte (0x00-0x1F, 0x7F), `$`, backquote, backslash.
///   Refused outside quotes: `;` `&` `|` `<` `>` `(` `)`.
/// - Everything else is an ordinary byte, passed as it is: glob characters, `~`, `#`, `!`, braces, and every
///   non-ASCII byte (no Unicode normalisation: a no-break space or a look-alike semicolon is just a byte).
/// - The line is checked whole, however long.
public enum CommandLineWords {
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case controlByte(UInt8, at: Int)
        case forbidden(UInt8, at: Int)
        case operatorOutsideQuotes(UInt8, at: Int)
        case unbalancedQuote(UInt8, at: Int)
        case empty

        public var description: String {
            switch self {
            case let .controlByte(byte, offset): return "a control character (0x\(hex(byte))) at byte \(offset + 1)"
            case let .forbidden(byte, offset): return "'\(Character(Unicode.Scalar(byte)))' at byte \(offset + 1), which is never allowed"
            case let .operatorOutsideQuotes(byte, offset):
                return "'\(Character(Unicode.Scalar(byte)))' at byte \(offset + 1), allowed only inside quotes"
            case let .unbalancedQuote(byte, offset): return "the quote \(Character(Unicode.Scalar(byte))) at byte \(offset + 1) is not closed"
            case .empty: return "an empty command"
            }
        }

        private func hex(_ byte: UInt8) -> String {
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }
    }

    /// The words of `line`, or why it is refused.
    public static func split(_ line: [UInt8]) throws(Refusal) -> [[UInt8]] {
        try splitMarkingQuotes(line).map(\.bytes)
    }

    /// A word, and which of its bytes were inside quotes (a pattern's quoted `*` is a plain `*`).
    public struct Word: Equatable {
        public var bytes: [UInt8] = []
        public var quoted: [Bool] = []
    }

    /// The words of `line` with their quoted bytes marked, or why it is refused.
    public static func splitMarkingQuotes(_ line: [UInt8]) throws(Refusal) -> [Word] {
        var words: [Word] = []
        var current = Word()
        var inWord = false
        var quote: (byte: UInt8, at: Int)?
        for (offset, byte) in line.enumerated() {
            if byte < 0x20 || byte == 0x7F { throw .controlByte(byte, at: offset) }
            if byte == UInt8(ascii: "$") || byte == UInt8(ascii: "`") || byte == UInt8(ascii: "\\") { throw .forbidden(byte, at: offset) }
            if let open = quote {
                if byte == open.byte {
                    quote = nil
                } else {
                    current.bytes.append(byte)
                    current.quoted.append(true)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: " "):
                if inWord { words.append(current) }
                current = Word()
                inWord = false
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                quote = (byte, offset)
                inWord = true  // '' is a word, empty
            case UInt8(ascii: ";"), UInt8(ascii: "&"), UInt8(ascii: "|"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("),
                UInt8(ascii: ")"):
                throw .operatorOutsideQuotes(byte, at: offset)
            default:
                current.bytes.append(byte)
                current.quoted.append(false)
                inWord = true
            }
        }
        if let open = quote { throw .unbalancedQuote(open.byte, at: open.at) }
        if inWord { words.append(current) }
        guard !words.isEmpty else { throw .empty }
        return words
    }
}
