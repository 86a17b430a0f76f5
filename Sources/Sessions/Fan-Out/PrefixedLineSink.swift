import SSHClient

/// A target's output as lines that start with its name (`web01: `), as pdsh prints them: each whole line goes out
/// in one piece (never mixed with another target's), and a last line without a newline gets one at the end. For a
/// terminal, control characters in a line are escaped (`\x0d`): a host cannot move the cursor back over its own
/// prefix and print another target's.
public final class PrefixedLineSink: ByteSink {
    /// A line longer than this goes out in pieces of this size (each a line of its own), so that a target writing
    /// no newline holds a bounded amount of memory.
    public static let longestLine = 1 << 20

    private let prefix: [UInt8]
    private let escapesControls: Bool
    private let emit: ([UInt8]) throws -> Void
    private var partial: [UInt8] = []
    /// The last line was cut at the limit with nothing after it: a newline that comes next ends it, adding nothing.
    private var cutJustBefore = false

    /// `emit` gets whole prefixed lines, several at a time.
    public init(prefix: String, escapesControls: Bool = false, emit: @escaping ([UInt8]) throws -> Void) {
        self.prefix = Array(prefix.utf8)
        self.escapesControls = escapesControls
        self.emit = emit
    }

    /// One line (without its newline) as it is written.
    private func line(_ text: some Collection<UInt8>) -> [UInt8] {
        guard escapesControls else { return prefix + text }
        var out = prefix
        var previous: UInt8 = 0
        for byte in text {
            if (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                out += Array("\\x".utf8) + Self.hex(byte)
            } else if previous == 0xC2, (0x80...0x9F).contains(byte) {
                out.removeLast()  // the lead byte of a C1 control (U+0080-U+009F)
                out += Array("\\u{".utf8) + Self.hex(byte) + [0x7D]
            } else {
                out.append(byte)
            }
            previous = byte
        }
        return out
    }

    private static func hex(_ byte: UInt8) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var lines: [UInt8] = []
        var start = bytes.startIndex
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            // A line cut at the limit just before its newline has been written whole, newline and all.
            if !(partial.isEmpty && cutJustBefore && newline == start) {
                lines += line(partial + bytes[start..<newline]) + [0x0A]
            }
            cutJustBefore = false
            partial.removeAll(keepingCapacity: true)
            start = newline + 1
        }
        partial += bytes[start...]
        if start < bytes.endIndex { cutJustBefore = false }
        while partial.count >= Self.longestLine {
            lines += line(partial.prefix(Self.longestLine)) + [0x0A]
            partial.removeFirst(Self.longestLine)
            cutJustBefore = partial.isEmpty
        }
        if !lines.isEmpty { try emit(lines) }
    }

    /// Ends a last line that has no newline.
    public func finish() throws {
        guard !partial.isEmpty else { return }
        let last = line(partial) + [0x0A]
        partial = []
        try emit(last)
    }
}
