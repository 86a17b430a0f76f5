/// Host lists as pdsh and ClusterShell write them (host patterns): `web[01-03,07]`, `rack[1-2]-node[01-02]`,
/// `root@db[1-4/2]:2222`, several patterns separated by top-level commas. Expanded in order, each target once.
public enum HostList {
    /// The most targets one argument may expand to.
    public static let limit = 65_536

    public struct Invalid: Error, CustomStringConvertible {
        public var pattern: String
        public var reason: String
        public var description: String { "host pattern '\(pattern.sanitizedForDisplay)': \(reason)" }
    }

    /// The targets several arguments name, each expanded on its own, in order, each once (none for none).
    public static func expand(_ arguments: [String]) throws -> [String] {
        var targets: [String] = []
        var seen = Set<String>()
        for argument in arguments {
            for target in try expand(argument) where seen.insert(target).inserted {
                targets.append(target)
                if targets.count > limit { throw Invalid(pattern: argument, reason: "more than \(limit) targets in all") }
            }
        }
        return targets
    }

    /// The targets `text` names, in the order written, duplicates dropped (each keeps its first place).
    public static func expand(_ text: String) throws -> [String] {
        var targets: [String] = []
        var seen = Set<String>()
        for pattern in try split(text) {
            for target in try expandOne(pattern) where seen.insert(target).inserted {
                targets.append(target)
                if targets.count > limit { throw Invalid(pattern: text, reason: "more than \(limit) targets") }
            }
        }
        return targets
    }

    /// Splits at commas outside brackets.
    static func split(_ text: String) throws -> [String] {
        var parts: [String] = [], current = "", depth = 0
        for character in text {
            switch character {
            case "[": depth += 1
            case "]":
                depth -= 1
                if depth < 0 { throw Invalid(pattern: text, reason: "a ']' without its '['") }
            case "," where depth == 0:
                parts.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        guard depth == 0 else { throw Invalid(pattern: text, reason: "a '[' without its ']'") }
        parts.append(current)
        if parts.contains(where: \.isEmpty) { throw Invalid(pattern: text, reason: "an empty item") }
        return parts
    }

    /// One pattern: its brackets expanded as a cartesian product, the first varying slowest. A bracket holding a
    /// `:` is an IPv6 literal and stays as written.
    static func expandOne(_ pattern: String) throws -> [String] {
        var results = [""]
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "[") {
            guard let close = rest[open...].firstIndex(of: "]") else { throw Invalid(pattern: pattern, reason: "a '[' without its ']'") }
            let literal = String(rest[..<open])
            let inside = rest[rest.index(after: open)..<close]
            let choices = inside.contains(":") ? ["[" + inside + "]"] : try ranges(String(inside), in: pattern)
            guard results.count * choices.count <= limit else { throw Invalid(pattern: pattern, reason: "more than \(limit) targets") }
            results = results.flatMap { prefix in choices.map { prefix + literal + $0 } }
            rest = rest[rest.index(after: close)...]
        }
        return results.map { $0 + rest }
    }

    /// `1,3-5,08-10,1-9/2`: the numbers, as text (zero padding kept when both bounds have the same width).
    static func ranges(_ text: String, in pattern: String) throws -> [String] {
        guard !text.isEmpty else { throw Invalid(pattern: pattern, reason: "empty brackets") }
        var values: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw Invalid(pattern: pattern, reason: "an empty item in '[\(text)]'") }
            let (span, step) = try stepped(item, pattern)
            let bounds = span.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2, bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }) else {
                throw Invalid(pattern: pattern, reason: "'\(item)' is not a number or a range of numbers")
            }
            let low = bounds[0], high = bounds.last!
            guard let from = Int(low), let to = Int(high) else { throw Invalid(pattern: pattern, reason: "'\(item)' is too large") }
            guard from <= to else { throw Invalid(pattern: pattern, reason: "the range '\(item)' is reversed") }
            let leadingZero = [low, high].contains { $0.count > 1 && $0.first == "0" }
            let padded = low.count == high.count && leadingZero
            if low.count != high.count, leadingZero {
                throw Invalid(pattern: pattern, reason: "the bounds of '\(item)' have different widths, one with a leading zero")
            }
            guard (to - from) / step < limit else { throw Invalid(pattern: pattern, reason: "more than \(limit) targets") }
            for value in stride(from: from, through: to, by: step) {
                let digits = String(value)
                values.append(padded ? String(repeating: "0", count: max(0, low.count - digits.count)) + digits : digits)
            }
        }
        return values
    }

    private static func stepped(_ item: Substring, _ pattern: String) throws -> (Substring, Int) {
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw Invalid(pattern: pattern, reason: "'\(item)' has more than one step") }
        guard parts.count == 2 else { return (item, 1) }
        guard parts[0].contains("-"), let step = Int(parts[1]), step > 0 else {
            throw Invalid(pattern: pattern, reason: "'\(item)': a step goes with a range, and is a number above 0")
        }
        return (parts[0], step)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
