/// A target as a user writes it: `[user@]host[:port]`, `[user@][v6addr]:port`, a bare IPv6 address, or an
/// ssh_config alias.
public struct HostSpec: Equatable, Sendable, CustomStringConvertible {
    public var user: String?
    public var host: String
    public var port: Int?

    public init(user: String? = nil, host: String, port: Int? = nil) {
        self.user = user
        self.host = host
        self.port = port
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case invalid(String, reason: String)

        public var description: String {
            switch self {
            case .empty: return "empty host"
            case let .invalid(text, reason): return "invalid host '\(text.sanitizedForDisplay)': \(reason)"
            }
        }
    }

    public init(parsing text: String) throws {
        guard !text.isEmpty else { throw ParseError.empty }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0 == " " }) {
            throw ParseError.invalid(text, reason: "control characters or spaces are not allowed")
        }
        var rest = Substring(text)
        if let at = rest.lastIndex(of: "@") {
            let user = rest[..<at]
            guard !user.isEmpty else { throw ParseError.invalid(text, reason: "empty user name") }
            guard Self.isValidRemoteUser(String(user)) else {
                throw ParseError.invalid(text, reason: "the user name holds characters a shell would read (' ` \" ; & < > | ( ) { }) or starts with '-'")
            }
            self.user = String(user)
            rest = rest[rest.index(after: at)...]
        } else {
            self.user = nil
        }
        if rest.hasPrefix("[") {
            // [address] or [address]:port, as ssh and known_hosts write IPv6 addresses.
            guard let close = rest.firstIndex(of: "]") else {
                throw ParseError.invalid(text, reason: "missing ']'")
            }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let tail = rest[rest.index(after: close)...]
            if tail.isEmpty {
                port = nil
            } else if tail.hasPrefix(":") {
                port = try Self.parsePort(tail.dropFirst(), in: text)
            } else {
                throw ParseError.invalid(text, reason: "unexpected text after ']'")
            }
        } else if rest.filter({ $0 == ":" }).count > 1 {
            host = String(rest)  // a bare IPv6 address: no port possible without brackets
            port = nil
        } else if let colon = rest.firstIndex(of: ":") {
            host = String(rest[..<colon])
            port = try Self.parsePort(rest[rest.index(after: colon)...], in: text)
        } else {
            host = String(rest)
            port = nil
        }
        guard !host.isEmpty else { throw ParseError.invalid(text, reason: "empty host name") }
        guard !host.hasPrefix("-") else { throw ParseError.invalid(text, reason: "a host name cannot start with '-'") }
        // Names, addresses and aliases only: nothing that a path or a shell would read specially.
        guard host.unicodeScalars.allSatisfy(Self.isHostCharacter) else {
            throw ParseError.invalid(text, reason: "a host name holds only letters, digits, '.', '-', '_', ':' and '%'")
        }
    }

    /// OpenSSH's valid_ruser: a user name given on the command line reaches `Match exec` and other commands through
    /// `%r`, so it may not hold what a shell reads specially, nor start an option.
    public static func isValidRemoteUser(_ user: String) -> Bool {
        guard !user.hasPrefix("-") else { return false }
        let scalars = Array(user.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            if "'`\";&<>|(){}".unicodeScalars.contains(scalar) { return false }
            if scalar.value < 0x20 || scalar.value == 0x7F { return false }
            if scalar == " " || scalar == "\t", index + 1 < scalars.count, scalars[index + 1] == "-" { return false }
            if scalar == "\\", index + 1 == scalars.count { return false }
        }
        return true
    }

    static func isHostCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "-", "_", ":", "%": return true
        default: return false
        }
    }

    static func parsePort(_ text: Substring, in whole: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw ParseError.invalid(whole, reason: "port must be a number from 1 to 65535")
        }
        return port
    }

    public var description: String {
        var text = user.map { "\($0)@" } ?? ""
        let needsBrackets = host.contains(":")
        if let port {
            text += needsBrackets ? "[\(host)]:\(port)" : "\(host):\(port)"
        } else {
            text += host
        }
        return text
    }
}
