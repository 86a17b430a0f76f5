import Glibc

/// The daemon's small records on disk (a session's `record`, a command's `job`): one `key=value` a line, values
/// with `\`, CR and LF escaped. Small enough to read without Foundation, plain enough to read with `cat`.
enum KeyValueFile {
    static func write(_ path: String, _ fields: [(String, String)]) throws {
        let text = fields.map { "\($0.0)=\(escape($0.1))\n" }.joined()
        try Posix.writeFileAtomically(path, Array(text.utf8))
    }

    /// A record is small; a file larger than this is not one (and is not read into memory).
    static let maximumSize = 4 << 20

    static func read(_ path: String) -> [String: String]? {
        guard let bytes = Posix.readFile(path, limit: maximumSize) else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = unescape(line[line.index(after: equals)...])
        }
        return fields
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.append(character)
            }
        }
        return out
    }

    static func unescape(_ value: Substring) -> String {
        var out = ""
        var escaping = false
        for character in value {
            if escaping {
                out.append(character == "n" ? "\n" : character == "r" ? "\r" : character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.append(character)
            }
        }
        return out
    }
}
