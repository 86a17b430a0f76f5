import Foundation

import SSHClient

/// Columns for people: a header, a rule, and rows padded to the widest cell. Cells come from hosts: their control
/// characters are escaped.
enum Table {
    static func format(header: [String], rows: [[String]]) -> String {
        let rows = rows.map { $0.map { $0.escapingControlCharacters(keepingNewlines: false) } }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line))
            .map { $0 + "\n" }.joined()
    }
}
