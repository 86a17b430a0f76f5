/// Options that turn an allowed reader into a writer or a remote client, refused in every spelling even where a
/// pattern's `*` lets them through: `--name`, `--name=X`, `--name X`, getopt_long's unambiguous abbreviations
/// (`--direc=X`), `--=X` (an empty name abbreviates every option), `-XV`, and a short option anywhere in a bundle
/// (`-aH`; refused even where an earlier letter takes the rest as its argument: pss does not know each program's
/// option table, so it refuses rather than guess). Everything is compared as bytes, as getopt reads them: a
/// combining mark after `=` does not hide the `=`. Subcommands that start a shell, an editor or a debugger
/// (`systemctl edit`, `machinectl shell`, `coredumpctl debug`) are refused as words anywhere after the program.
public enum DangerousOptions {
    struct Rule {
        var short: Set<UInt8>
        /// Long names; one ending in `*` is a prefix (`vacuum-*`).
        var long: [String]
        var subcommands: Set<String> = []
    }

    /// systemd's tools that reach other machines or containers with -H/--host and -M/--machine.
    private static let remote = Rule(short: [UInt8(ascii: "H"), UInt8(ascii: "M")], long: ["host", "machine"])

    static let rules: [String: Rule] = [
        "systemctl": Rule(
            short: [UInt8(ascii: "H"), UInt8(ascii: "M"), UInt8(ascii: "C")], long: ["host", "machine", "capsule", "root", "image"],
            subcommands: ["edit"]),
        "journalctl": Rule(
            short: [UInt8(ascii: "D"), UInt8(ascii: "M"), UInt8(ascii: "i")],
            long: [
                "directory", "file", "root", "image", "machine", "cursor-file", "vacuum-*", "rotate", "flush", "sync",
                "relinquish-var", "smart-relinquish-var", "setup-keys", "update-catalog",
            ]),
        "coredumpctl": Rule(
            short: [UInt8(ascii: "D"), UInt8(ascii: "o"), UInt8(ascii: "A")],
            long: ["directory", "file", "root", "image", "output", "debugger", "debugger-arguments"], subcommands: ["debug", "gdb"]),
        // busctl --address=unixexec:path=... starts any program.
        "busctl": Rule(short: [UInt8(ascii: "H"), UInt8(ascii: "M")], long: ["host", "machine", "address"]),
        "machinectl": Rule(short: [UInt8(ascii: "H"), UInt8(ascii: "M")], long: ["host", "machine"], subcommands: ["shell", "login", "edit"]),
        "networkctl": Rule(short: [UInt8(ascii: "H"), UInt8(ascii: "M")], long: ["host", "machine"], subcommands: ["edit"]),
        "loginctl": remote, "hostnamectl": remote, "timedatectl": remote,
        "localectl": remote, "resolvectl": remote, "systemd-analyze": remote,
    ]

    /// The first refused option in `words` (the command's words, the program first), or nil.
    public static func refused(in words: [[UInt8]]) -> String? {
        guard let program = words.first else { return nil }
        // The program's name: its last path part, trailing slashes aside.
        let name = String(decoding: program.split(separator: UInt8(ascii: "/")).last ?? [], as: UTF8.self)
        guard let rule = rules[name] else { return nil }
        let dash = UInt8(ascii: "-"), equals = UInt8(ascii: "=")
        for word in words.dropFirst() {
            if word.starts(with: [dash, dash]) {
                let option = Array(word.dropFirst(2).prefix { $0 != equals })
                if option.isEmpty {
                    if word.count > 2 { return "\(name) --=" }  // an empty name: every option's abbreviation
                    continue  // `--`: what follows are arguments, still checked
                }
                if rule.long.contains(where: { Self.isSpelling(option, of: Array($0.utf8)) }) {
                    return "\(name) --\(String(decoding: option, as: UTF8.self))"
                }
            } else if word.first == dash, word.count > 1 {
                if let letter = word.dropFirst().first(where: rule.short.contains) {
                    return "\(name) -\(Character(Unicode.Scalar(letter)))"
                }
            } else if rule.subcommands.contains(String(decoding: word, as: UTF8.self)) {
                return "\(name) \(String(decoding: word, as: UTF8.self))"
            }
        }
        return nil
    }

    /// Whether `option` (the bytes after `--`, before any `=`) names `long`: the whole name, an abbreviation of it
    /// (getopt_long takes any unambiguous prefix), or, for a `prefix-*` rule, anything under that prefix or an
    /// abbreviation of it.
    static func isSpelling(_ option: [UInt8], of long: [UInt8]) -> Bool {
        if long.last == UInt8(ascii: "*") {
            let stem = long.dropLast()
            return option.starts(with: stem) || stem.starts(with: option)
        }
        return long.starts(with: option)
    }
}
