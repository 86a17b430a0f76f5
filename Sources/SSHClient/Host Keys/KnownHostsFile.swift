import Foundation
import Glibc

/// One known_hosts file, read as OpenSSH reads it: as bytes, one line at a time (LF or CRLF), blank lines and `#`
/// comments skipped, and a line it cannot understand skipped alone (it never hides the rest of the file).
///
/// A line is `[marker] hosts keytype base64 [comment]`. `hosts` is a comma-separated pattern list (`*`, `?`, `!`,
/// `[host]:port`) or one hashed name (`|1|salt|hash`); the marker is `@revoked` or `@cert-authority`.
public struct KnownHostsFile: Sendable {
    public enum Marker: Sendable, Equatable { case none, revoked, certAuthority }

    public struct Entry: Sendable, Equatable {
        public var line: Int
        public var marker: Marker
        var hosts: Hosts
        /// The key type, as the key's own blob names it (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...).
        public var keyType: String
        public var keyBlob: [UInt8]

        /// Whether this line is about `name` (a host name or `[host]:port`, compared without case).
        public func applies(to name: String) -> Bool { hosts.match(name.asciiLowercased) }
    }

    enum Hosts: Sendable, Equatable {
        case patterns(String)
        case hashed(salt: [UInt8], hash: [UInt8])

        func match(_ lowercasedName: String) -> Bool {
            switch self {
            case let .patterns(list): return HostPattern.matchHostname(lowercasedName, list) == .matched
            case let .hashed(salt, hash): return HashedHostName.hash(lowercasedName, salt: salt) == hash
            }
        }
    }

    public let path: String
    public let entries: [Entry]

    /// The file's entries; nil when it does not exist or cannot be read (a missing file holds no keys, as for ssh).
    public static func read(_ path: String) -> KnownHostsFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return parse(bytes, path: path)
    }

    public static func parse(_ bytes: [UInt8], path: String) -> KnownHostsFile {
        var entries: [Entry] = []
        for (index, rawLine) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if let entry = parseLine(rawLine, number: index + 1) { entries.append(entry) }
        }
        return KnownHostsFile(path: path, entries: entries)
    }

    static func parseLine(_ raw: ArraySlice<UInt8>, number: Int) -> Entry? {
        var fields = raw.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
        guard let first = fields.first, first.first != UInt8(ascii: "#") else { return nil }
        var marker = Marker.none
        if first.first == UInt8(ascii: "@") {
            switch String(decoding: first, as: UTF8.self) {
            case "@revoked": marker = .revoked
            case "@cert-authority": marker = .certAuthority
            default: return nil
            }
            fields.removeFirst()
        }
        guard fields.count >= 3, let hosts = parseHosts(fields[0]),
            let blob = Data(base64Encoded: Data(fields[2])).map([UInt8].init)
        else { return nil }
        // The type word must agree with the type the blob names (OpenSSH's sshkey_read); old RSA1 lines
        // (`bits exponent modulus`) fail here too.
        let keyType = String(decoding: fields[1], as: UTF8.self)
        guard HostKey.typeName(ofBlob: blob) == keyType else { return nil }
        return Entry(line: number, marker: marker, hosts: hosts, keyType: keyType, keyBlob: blob)
    }

    static func parseHosts(_ field: ArraySlice<UInt8>) -> Hosts? {
        guard field.starts(with: Array(HashedHostName.magic.utf8)) else {
            return .patterns(String(decoding: field, as: UTF8.self))
        }
        let parts = field.dropFirst(HashedHostName.magic.utf8.count).split(
            separator: UInt8(ascii: "|"),
            omittingEmptySubsequences: false)
        guard parts.count == 2,
            let salt = Data(base64Encoded: Data(parts[0])), let hash = Data(base64Encoded: Data(parts[1])),
            salt.count == HashedHostName.saltLength, hash.count == HashedHostName.saltLength
        else { return nil }
        return .hashed(salt: [UInt8](salt), hash: [UInt8](hash))
    }
}

/// known_hosts' hashed names (`|1|salt|hash`, as `ssh-keygen -H` and `HashKnownHosts yes` write them): the
/// HMAC-SHA1 of the lower-case name, keyed with a random 20-byte salt.
enum HashedHostName {
    static let magic = "|1|"
    static let saltLength = 20

    static func hash(_ name: String, salt: [UInt8]) -> [UInt8] {
        SHA1.hmac(key: salt, message: Array(name.asciiLowercased.utf8))
    }

    /// A new hashed host field for `name`.
    static func make(_ name: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return magic + Data(salt).base64EncodedString() + "|" + Data(hash(name, salt: salt)).base64EncodedString()
    }
}
