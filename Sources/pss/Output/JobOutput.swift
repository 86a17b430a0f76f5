import Foundation
import SessionWire
import SSHClient

/// How jobs are shown: a table for people (Get-Job's columns), one JSON object a line for scripts.
enum JobOutput {
    struct Row {
        var host: String
        var job: JobRecord
    }

    static func print(_ rows: [Row], json: Bool) {
        if json {
            for row in rows { jsonLine(row).print() }
            return
        }
        let header = ["Id", "Name", "Session", "State", "ExitCode", "HasMoreData", "Command"]
        let lines = rows.map { row in
            [
                row.job.id, row.job.name, "\(row.host)/\(row.job.sessionName)", row.job.state.rawValue,
                row.job.exitCode.map(String.init) ?? "", row.job.hasMoreData ? "True" : "False",
                row.job.command.sanitizedForDisplay,
            ]
        }
        Terminal.write(Table.format(header: header, rows: lines))
    }

    static func jsonLine(_ row: Row) -> JSONLine {
        let job = row.job
        var line = JSONLine()
        line.add("id", job.id)
        line.add("name", job.name)
        line.add("session", job.sessionID)
        line.add("host", row.host)
        line.add("state", job.state.rawValue)
        line.add("exitCode", job.exitCode.map { Int($0) })
        line.add("command", job.command)
        line.add("startedAt", SessionOutput.timestamp(job.startedAt))
        line.add("endedAt", job.endedAt > 0 ? SessionOutput.timestamp(job.endedAt) : nil)
        line.add("hasMoreData", job.hasMoreData)
        line.add("sessionName", job.sessionName)
        // Unreceived and ended: its session stays at least until then.
        line.add("keptUntil", job.keptUntil > 0 ? SessionOutput.timestamp(job.keptUntil) : nil)
        return line
    }
}
