import Glibc
import SessionWire

/// Session records on disk (`sessions/<id>/record`), so that they outlive the daemon: a daemon that starts and
/// finds records whose shells are gone shows them as Broken, their spooled output still there.
///
/// The format is one `key=value` a line, values with `\`, newline and `=`-free keys escaped: small enough to read
/// without Foundation, plain enough to read with `cat`.
struct SessionStore {
    let paths: HostPaths

    func save(_ record: SessionRecord) throws {
        let fields: [(String, String)] = [
            ("id", record.id), ("name", record.name), ("owner", record.owner), ("state", record.state.rawValue),
            ("heldBy", record.heldBy), ("createdAt", String(record.createdAt)),
            ("idleTimeoutSeconds", String(record.idleTimeoutSeconds)), ("outputBuffering", record.outputBuffering.rawValue),
            ("maxBuffer", String(record.maxBuffer)), ("command", record.command), ("temporary", record.temporary ? "1" : "0"),
        ]
        let text = fields.map { "\($0.0)=\(Self.escape($0.1))\n" }.joined()
        try Posix.writeFileAtomically(paths.session(record.id) + "/record", Array(text.utf8))
    }

    func load(_ id: String) -> SessionRecord? {
        guard let bytes = Posix.readFile(paths.session(id) + "/record") else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = Self.unescape(line[line.index(after: equals)...])
        }
        guard let id = fields["id"], let name = fields["name"], let owner = fields["owner"],
              let state = fields["state"].flatMap(SessionRecord.State.init(rawValue:)),
              let createdAt = fields["createdAt"].flatMap({ Int64($0) }),
              let idle = fields["idleTimeoutSeconds"].flatMap({ UInt32($0) }),
              let buffering = fields["outputBuffering"].flatMap(SessionRecord.OutputBuffering.init(rawValue:)),
              let maxBuffer = fields["maxBuffer"].flatMap({ UInt64($0) })
        else { return nil }
        return SessionRecord(id: id, name: name, owner: owner, state: state, heldBy: fields["heldBy"] ?? "",
                             createdAt: createdAt, idleTimeoutSeconds: idle, outputBuffering: buffering,
                             maxBuffer: maxBuffer, command: fields["command"] ?? "", temporary: fields["temporary"] == "1")
    }

    func loadAll() -> [SessionRecord] {
        Posix.directoryEntries(paths.sessions).filter(SessionName.isID).compactMap(load)
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
