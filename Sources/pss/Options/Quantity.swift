import ArgumentParser

/// DESIGN.md's DUR: `90`, `90s`, `15m`, `2h` (seconds).
struct Duration: ExpressibleByArgument {
    var seconds: UInt32
    /// As written, for --help's defaults.
    var defaultValueDescription: String

    init?(argument: String) {
        defaultValueDescription = argument
        let units: [Character: UInt32] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var text = Substring(argument)
        var unit: UInt32 = 1
        if let last = text.last, let factor = units[last] { unit = factor; text = text.dropLast() }
        guard let value = UInt32(text), value <= UInt32.max / unit else { return nil }
        seconds = value * unit
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// DESIGN.md's SIZE: `512K`, `64M`, `1G` (bytes; a bare number is bytes).
struct ByteSize: ExpressibleByArgument {
    var bytes: UInt64
    /// As written, for --help's defaults.
    var defaultValueDescription: String

    init?(argument: String) {
        defaultValueDescription = argument
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var text = Substring(argument)
        var unit: UInt64 = 1
        if let last = text.last, let factor = units[Character(last.uppercased())] { unit = factor; text = text.dropLast() }
        guard let value = UInt64(text), value > 0, value <= UInt64.max / unit else { return nil }
        bytes = value * unit
    }
}
