import Glibc

/// ssh_config's `%` tokens and `~`, for the keywords that take paths and for `Match exec`.
struct PercentTokens {
    var alias: String
    var hostName: String
    var port: Int
    var remoteUser: String
    var hostKeyAlias: String?

    /// HostName's only token, `%h`: the host as written.
    static func expandHostName(_ text: String, alias: String) -> String {
        text.replacingOccurrences(of: "%%", with: "\u{0}").replacingOccurrences(of: "%h", with: alias)
            .replacingOccurrences(of: "\u{0}", with: "%")
    }

    /// The first `%` token in `text` not among `allowed` (a `%` at the end counts as one), or nil.
    static func unknownToken(in text: String, allowed: String) -> String? {
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { continue }
            guard let token = iterator.next() else { return "" }
            if !allowed.contains(token) { return String(token) }
        }
        return nil
    }

    func expand(_ text: String, forExec: Bool = false) -> String {
        var out = ""
        var iterator = (forExec ? text : PathExpansion.tilde(text)).makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { out.append(character); continue }
            switch iterator.next() {
            case "%": out += "%"
            case "C": out += connectionHash
            case "d": out += LocalUser.home
            case "h": out += hostName
            case "i": out += String(getuid())
            // ssh: HostKeyAlias, else the host as given; in Match exec, else the HostName so far.
            case "k": out += hostKeyAlias ?? (forExec ? hostName : alias)
            case "L": out += String(localHostName.prefix(while: { $0 != "." }))
            case "l": out += localHostName
            case "n": out += alias
            case "p": out += String(port)
            case "r": out += remoteUser
            case "u": out += LocalUser.name
            case let other?: out += "%" + String(other)
            case nil: out += "%"
            }
        }
        return out
    }

    /// `%C`: the SHA-1 of the local host name, host, port and remote user, in hex (ssh's connection hash).
    var connectionHash: String {
        SHA1.hash(Array((localHostName + hostName + String(port) + remoteUser).utf8))
            .map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    var localHostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(cString: buffer)
    }
}
