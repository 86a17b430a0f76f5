import Foundation

/// One JSON object on one line, keys in the order given (DESIGN.md's field order), as `--json` prints them.
struct JSONLine {
    private var fields: [(String, String)] = []

    mutating func add(_ key: String, _ value: String?) {
        fields.append((key, value.map(Self.quoted) ?? "null"))
    }

    mutating func add(_ key: String, _ value: Int?) {
        fields.append((key, value.map(String.init) ?? "null"))
    }

    mutating func add(_ key: String, _ values: [String]?) {
        fields.append((key, values.map { "[" + $0.map(Self.quoted).joined(separator: ",") + "]" } ?? "null"))
    }

    mutating func add(_ key: String, _ value: Bool) {
        fields.append((key, value ? "true" : "false"))
    }

    var text: String {
        "{" + fields.map { "\(Self.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    func print() {
        Terminal.write(text + "\n")
    }

    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || String.isDisplayControl(scalar):
                // Escaped, so that a JSON line read on a terminal cannot drive it either.
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
