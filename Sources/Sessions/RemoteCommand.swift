/// Turns the words after `--` into the command line the remote shell runs: one word is taken as a shell command
/// line as it is (`pss invoke --host h -- 'cd /tmp && ls'`); several are each quoted, so that every word arrives
/// as one argument, whatever it holds.
public enum RemoteCommand {
    public static func commandLine(_ words: [String]) -> String {
        words.count == 1 ? words[0] : words.map(quote).joined(separator: " ")
    }

    /// POSIX shell quoting: plain words stay as they are; anything else goes in single quotes, with each `'`
    /// written as `'\''`.
    public static func quote(_ word: String) -> String {
        if !word.isEmpty, word.unicodeScalars.allSatisfy(isPlain) { return word }
        return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    private static func isPlain(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "/", ",", ":", "@", "%", "+", "=": return true
        default: return false
        }
    }
}
