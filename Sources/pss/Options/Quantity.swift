import ArgumentParser

/// DESIGN.md's DUR: a number and a unit, or several (`90`, `90s`, `15m`, `2h`, `7d`, `1h30m`, `2m30s`, `500ms`), in
/// whole seconds (milliseconds round up).
struct Duration: ExpressibleByArgument {
    var seconds: UInt32
    /// As written, for --help's defaults.
    var defaultValueDescription: String

    struct Invalid: Error, CustomStringConvertible {
        var description: String {
            "give a number and a unit, or several: 90 (seconds), 90s, 15m, 2h, 7d, 1h30m, 2m30s, 500ms (rounded up to whole seconds)"
        }
    }

    /// What `--option DUR` takes; the error lists the forms (used as the options' transform).
    static func parse(_ text: String) throws -> Duration {
        guard let duration = Duration(argument: text) else { throw Invalid() }
        return duration
    }

    init?(argument: String) {
        defaultValueDescription = argument
        let units: [String: UInt64] = ["ms": 0, "s": 1, "m": 60, "h": 3600, "d": 86400]
        var milliseconds: UInt64 = 0
        var text = Substring(argument)
        guard !text.isEmpty else { return nil }
        // A bare number is seconds.
        if text.allSatisfy(\.isASCIIDigit) { text += "s" }
        while !text.isEmpty {
            let digits = text.prefix(while: \.isASCIIDigit)
            text = text.dropFirst(digits.count)
            let unit = text.prefix(while: { $0.isASCII && $0.isLetter })
            text = text.dropFirst(unit.count)
            guard !digits.isEmpty, digits.count <= 10, let value = UInt64(digits), let factor = units[String(unit)] else { return nil }
            milliseconds += factor == 0 ? value : value * factor * 1000
            guard milliseconds <= UInt64(UInt32.max) * 1000 else { return nil }
        }
        let whole = (milliseconds + 999) / 1000
        guard whole <= UInt64(UInt32.max) else { return nil }
        seconds = UInt32(whole)
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
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
