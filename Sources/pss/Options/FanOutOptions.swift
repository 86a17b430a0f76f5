import ArgumentParser
import Foundation
import Sessions

/// How commands that take several targets take them and run them.
struct FanOutOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Targets from this file, one a line (host lists allowed; blank lines and # comments skipped).", valueName: "file"))
    var hostsFile: String?

    @Option(help: ArgumentHelp("At most this many targets at once.", valueName: "n"))
    var throttle: Int = FanOut.defaultThrottle

    @Flag(help: "Print the targets, one a line, as they would be addressed (host lists expanded), and connect to nothing.")
    var dryRun = false

    func validate() throws {
        guard (1...1024).contains(throttle) else { throw ValidationError("--throttle: from 1 to 1024, not \(throttle)") }
    }

    /// `given` and the hosts file's lines, host lists expanded, in order, each once. Refused as a usage error (64)
    /// naming the pattern or the file's line.
    func targets(_ given: [String]) throws -> [String] {
        var lists = given
        if let hostsFile {
            guard access(hostsFile, R_OK) == 0, let data = FileManager.default.contents(atPath: hostsFile) else {
                let reason = access(hostsFile, R_OK) == 0 ? "not a readable file" : String(cString: strerror(errno))
                throw ValidationError("--hosts-file: cannot read \(hostsFile.sanitizedForDisplay): \(reason)")
            }
            var found = false
            for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                // A comment runs from a # that starts the line or follows a blank to the end of the line.
                var content = Substring(line)
                if let hash = content.indices.first(where: {
                    content[$0] == "#" && ($0 == content.startIndex || content[content.index(before: $0)].isWhitespace)
                }) {
                    content = content[..<hash]
                }
                let text = content.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
                if text.isEmpty { continue }
                if text.contains(where: \.isWhitespace) {
                    throw ValidationError("--hosts-file \(hostsFile.sanitizedForDisplay), line \(number + 1): one target a line")
                }
                found = true
                do { _ = try HostList.expand(text) } catch {
                    throw ValidationError("--hosts-file \(hostsFile.sanitizedForDisplay), line \(number + 1): \(error)")
                }
                lists.append(text)
            }
            guard found else { throw ValidationError("--hosts-file \(hostsFile.sanitizedForDisplay): no targets in it") }
        }
        do { return try HostList.expand(lists) } catch { throw ValidationError("\(error)") }
    }

    /// Prints `targets` for --dry-run.
    static func printTargets(_ targets: [String]) {
        Terminal.write(targets.map { $0 + "\n" }.joined())
    }
}
