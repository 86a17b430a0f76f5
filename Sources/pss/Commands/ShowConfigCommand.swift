import ArgumentParser
import Foundation
import SSHClient

/// `pss -G HOST`, as `ssh -G`: the configuration pss resolved for HOST from ssh_config, -F, -o and the HOST form, one
/// `keyword value` a line, for every keyword pss uses; connects to nothing. (Reached through `-G`, which the command
/// line turns into this hidden command.)
struct ShowConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show-config",
        abstract: "Print the configuration pss resolved for HOST, as ssh -G (connects to nothing).",
        shouldDisplay: false
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("[user@]host[:port] or an ssh_config alias.", valueName: "host"))
    var host: String

    func validate() throws {
        do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let lines = try ResolvedConfiguration.lines(for: HostSpec(parsing: host), resolver: connection.makeResolver())
        Terminal.write(lines.map { "\($0.keyword) \($0.value)\n" }.joined())
    }
}
