/// The key that leaves `pss enter` without touching the session, written as users write keys: `ctrl-\` (the
/// default, as dtach's), `^]`, `C-a`, `ctrl-a`, or `none`.
public enum DetachKey {
    public static let defaultKey: UInt8 = 0x1C  // Ctrl-\

    /// The byte the key sends, nil for `none`; throws a usage error naming what is accepted.
    public static func parse(_ text: String) throws -> UInt8? {
        let lowered = text.lowercased()
        if lowered == "none" { return nil }
        for prefix in ["ctrl-", "c-", "^"] where lowered.hasPrefix(prefix) {
            let rest = lowered.dropFirst(prefix.count)
            guard rest.count == 1, let scalar = rest.unicodeScalars.first, scalar.isASCII else { break }
            let value = UInt8(scalar.value)
            switch value {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return value - UInt8(ascii: "a") + 1
            case UInt8(ascii: "@"), UInt8(ascii: "["), UInt8(ascii: "\\"), UInt8(ascii: "]"), UInt8(ascii: "^"), UInt8(ascii: "_"):
                return value & 0x1F
            default: break
            }
        }
        throw SessionError.usage(
            "--detach-key '\(text.sanitizedForDisplay)': write a control key as ctrl-X, C-X or ^X (X a letter or one of @ [ \\ ] ^ _), or none")
    }
}
