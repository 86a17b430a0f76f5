/// Options that turn an allowed reader into a writer or a remote client, refused in every spelling even where a
/// pattern's `*` lets them through: `--name`, `--name=X`, `--name X`, getopt_long's unambiguous abbreviations
/// (`--direc=X`), `-XV`, and a short option anywhere in a bundle (`-aH`; refused even where an earlier letter takes
/// the rest as its argument: pss does not know each program's option table, so it refuses rather than guess).
public enum DangerousOptions {
    struct Rule {
        var short: Set<UInt8>
        /// Long names; one ending in `*` is a prefix (`vacuum-*`).
        var long: [String]
    }

    static let rules: [String: Rule] = [
        "systemctl": Rule(short: [UInt8(ascii: "H"), UInt8(ascii: "M")], long: ["host", "machine"]),
        "journalctl": Rule(
            short: [UInt8(ascii: "D"), UInt8(ascii: "M")],
            long: [
                "directory", "file", "root", "image", "machine", "cursor-file", "vacuum-*", "rotate", "flush", "sync",
                "relinquish-var", "smart-relinquish-var", "setup-keys", "update-catalog",
            ]),
    ]

    /// The first refused option in `words` (the command's words, the program first), or nil.
    public static func refused(in words: [[UInt8]]) -> String? {
        guard let program = words.first else { return nil }
        let name = String(decoding: program.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).last ?? [], as: UTF8.self)
        guard let rule = rules[name] else { return nil }
        for word in words.dropFirst() {
            let text = String(decoding: word, as: UTF8.self)
            if text.hasPrefix("--") {
                let option = String(text.dropFirst(2).prefix { $0 != "=" })
                guard !option.isEmpty else { continue }  // `--`: what follows is not options, but is checked all the same
                if rule.long.contains(where: { Self.isSpelling(option, of: $0) }) { return "\(name) --\(option)" }
            } else if text.hasPrefix("-"), text.count > 1 {
                if let letter = word.dropFirst().first(where: rule.short.contains) {
                    return "\(name) -\(Character(Unicode.Scalar(letter)))"
                }
            }
        }
        return nil
    }

    /// Whether `option` (as written after `--`) names `long`: the whole name, an abbreviation of it (getopt_long
    /// takes any unambiguous prefix), or, for a `prefix-*` rule, anything under that prefix or an abbreviation of it.
    static func isSpelling(_ option: String, of long: String) -> Bool {
        if long.hasSuffix("*") {
            let stem = String(long.dropLast())
            return option.hasPrefix(stem) || stem.hasPrefix(option)
        }
        return long.hasPrefix(option)
    }
}
