import Foundation
import SessionWire

/// How a host's configurations are shown: a table for people, one JSON object a line for scripts. The host checked
/// each file; its text is read here only to show it.
enum ConfigurationOutput {
    static func print(_ entries: [ConfigurationEntry], host: String, json: Bool) {
        let parsed = entries.map { entry in
            (entry, (try? JSONSerialization.jsonObject(with: Data(entry.text))) as? [String: Any] ?? [:])
        }
        if json {
            for (entry, fields) in parsed {
                var line = JSONLine()
                line.add("host", host)
                line.add("name", entry.name)
                line.add("runAs", fields["runAs"] as? String)
                line.add("allowUsers", fields["allowUsers"] as? [String] ?? [])
                line.add("allowGroups", fields["allowGroups"] as? [String] ?? [])
                line.add("allowedCommands", fields["allowedCommands"] as? [String])
                line.add("idleTimeoutSeconds", fields["idleTimeoutSeconds"] as? Int)
                line.add("maxSessionsPerUser", fields["maxSessionsPerUser"] as? Int)
                line.add("maxBufferBytes", fields["maxBufferBytes"] as? Int)
                line.add("maxJobsPerUser", fields["maxJobsPerUser"] as? Int)
                line.add("transcriptDirectory", fields["transcriptDirectory"] as? String)
                line.add("problem", entry.problem.isEmpty ? nil : entry.problem)
                line.add("allowsYou", entry.allowsCaller)
                line.print()
            }
            return
        }
        let header = ["Name", "RunAs", "Users", "Commands", "Problem"]
        let rows = parsed.map { entry, fields -> [String] in
            let users = (fields["allowUsers"] as? [String] ?? []) + (fields["allowGroups"] as? [String] ?? []).map { "%" + $0 }
            let commands = (fields["allowedCommands"] as? [String]).map { "\($0.count) allowed" } ?? "any (a shell)"
            return [
                entry.name, fields["runAs"] as? String ?? "", users.isEmpty ? "everyone" : users.joined(separator: ","),
                entry.problem.isEmpty ? commands : "", entry.problem,
            ]
        }
        Terminal.write(Table.format(header: header, rows: rows))
    }
}
