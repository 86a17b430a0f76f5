/// POSIX shell quoting, shared by the client (command lines it sends) and the host (paths it types into a
/// session's shell).
public enum ShellQuoting {
    /// Plain words stay as they are; anything else goes in single quotes, with each `'` written as `'\''` and each
    /// `!` as `'\!'` (the same to sh; and csh, which expands `!` even inside single quotes, passes it on as it is).
    public static func quote(_ word: String) -> String {
        if !word.isEmpty, word.unicodeScalars.allSatisfy(isPlain) { return word }
        let quoted = word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''")
        return "'" + quoted.split(separator: "!", omittingEmptySubsequences: false).joined(separator: "'\\!'") + "'"
    }

    private static func isPlain(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "/", ",", ":", "@", "%", "+", "=": return true
        default: return false
        }
    }
}

/// Lower-case hexadecimal, for digests, ids and tokens.
public enum Hex {
    public static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        characters.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 15)])
        }
        return String(decoding: characters, as: UTF8.self)
    }
}
