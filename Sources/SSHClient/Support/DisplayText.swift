/// Text that came from outside pss (a server's banner, a helper's message, a name in a table, a prompt, a file's
/// contents) reaches the terminal only through these, so it cannot move the cursor, retitle the window or reorder
/// what is shown: control characters (C0, DEL, C1) and the bidirectional overrides are written as escapes, as ssh
/// does with what servers send.
extension String {
    /// One line, safe to print: every control character escaped (newlines too), at most 200 characters.
    public var sanitizedForDisplay: String {
        let out = escapingControlCharacters(keepingNewlines: false)
        return out.count > 200 ? String(out.prefix(200)) + "…" : out
    }

    /// Safe to print, keeping line breaks (and tabs) so that a multi-line message stays readable.
    public func escapingControlCharacters(keepingNewlines: Bool) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(unicodeScalars.count)
        for scalar in unicodeScalars {
            if keepingNewlines && (scalar == "\n" || scalar == "\t") {
                out.unicodeScalars.append(scalar)
            } else if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            } else if Self.isDisplayControl(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// C1 controls (U+0080-U+009F: CSI, OSC... on terminals that take 8-bit controls) and the bidirectional
    /// embeddings, overrides and isolates, which reorder what follows them on the screen.
    public static func isDisplayControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x80...0x9F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
