/// Lets connection options stand before the command name, as ssh users write them (`pss -F cfg invoke ...`):
/// they are moved behind the command name, where each command declares them.
enum GlobalOptionPlacement {
    /// Options that take a value, and flags, that every command accepts.
    static let valued: Set<String> = ["-F", "-o", "-i", "-l", "-p", "-J", "--password-file", "--configuration"]
    static let flags: Set<String> = ["--json", "-v", "--verbose"]

    static func movingConnectionOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "-G" {
                // `pss -G HOST`, as ssh's: the hidden command that prints the resolved configuration.
                return ["show-config"] + leading + arguments[(index + 1)...]
            }
            if valued.contains(argument), index + 1 < arguments.count {
                leading += [argument, arguments[index + 1]]
                index += 2
            } else if flags.contains(argument) || isAttachedValue(argument) {
                leading.append(argument)
                index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        // arguments[index] is the command name; `job` and `config` have their own subcommands.
        let nameCount = ["job", "config"].contains(arguments[index]) && index + 1 < arguments.count ? 2 : 1
        return Array(arguments[index..<(index + nameCount)]) + leading + arguments[(index + nameCount)...]
    }

    /// `-oKey=Value`, `-p2222`, `--password-file=FILE`.
    private static func isAttachedValue(_ argument: String) -> Bool {
        if argument.hasPrefix("--password-file=") || argument.hasPrefix("--configuration=") { return true }
        return ["-F", "-o", "-i", "-l", "-p", "-J"].contains { argument.hasPrefix($0) && argument.count > 2 }
    }
}
