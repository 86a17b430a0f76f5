import SessionWire

/// Turns the words after `--` into the command line the remote shell runs: one word is taken as a shell command
/// line as it is (`pss invoke --host h -- 'cd /tmp && ls'`); several are each quoted, so that every word arrives
/// as one argument, whatever it holds.
public enum RemoteCommand {
    public static func commandLine(_ words: [String]) -> String {
        words.count == 1 ? words[0] : words.map(ShellQuoting.quote).joined(separator: " ")
    }
}
