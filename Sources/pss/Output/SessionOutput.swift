import Foundation
import SessionWire

/// How sessions are shown: a table for people (Get-PSSession's columns), one JSON object a line for scripts.
enum SessionOutput {
    struct Row {
        var host: String
        var record: SessionRecord
    }

    static func print(_ rows: [Row], json: Bool, clientID: String) {
        if json {
            for row in rows { jsonLine(row, clientID: clientID).print() }
        } else {
            table(rows, clientID: clientID)
        }
    }

    static func table(_ rows: [Row], clientID: String) {
        let header = ["Id", "Name", "ComputerName", "State", "ConfigurationName", "Owner", "RunAs", "Availability"]
        let lines = rows.map { row in
            [
                row.record.id, row.record.name, row.host, row.record.state.rawValue, row.record.configuration,
                row.record.owner, row.record.runAs, row.record.availability(for: clientID).rawValue,
            ]
        }
        Terminal.write(Table.format(header: header, rows: lines))
    }

    static func jsonLine(_ row: Row, clientID: String) -> JSONLine {
        let record = row.record
        var line = JSONLine()
        line.add("id", record.id)
        line.add("name", record.name)
        line.add("host", row.host)
        line.add("state", record.state.rawValue)
        line.add("availability", record.availability(for: clientID).rawValue)
        line.add("configuration", record.configuration.isEmpty ? nil : record.configuration)
        line.add("owner", record.owner)
        line.add("runAs", record.runAs.isEmpty ? nil : record.runAs)
        line.add("createdAt", timestamp(record.createdAt))
        line.add("idleTimeoutSeconds", Int(record.idleTimeoutSeconds))
        line.add("expiresAt", record.expiresAt > 0 ? timestamp(record.expiresAt) : nil)
        line.add("outputBuffering", record.outputBuffering.rawValue)
        line.add("maxBuffer", Int(clamping: record.maxBuffer))
        line.add("command", record.command.isEmpty ? nil : record.command)
        line.add("temporary", record.temporary)
        return line
    }

    static func timestamp(_ seconds: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
