import Foundation
import Glibc

/// What the known_hosts files say of a server's host key, decided as OpenSSH decides it: a key recorded for the
/// name is known; a key recorded as `@revoked` is refused; any other key recorded for the name, of any type, means
/// the host's identity changed; only a name with no key at all is unknown. Names compare without case.
public struct KnownHosts: Sendable {
    public struct Location: Equatable, Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var description: String { "\(file):\(line)" }
    }

    public enum Verdict: Equatable, Sendable {
        case known(Location)
        case revoked(Location)
        /// Another key is recorded for the name (the first such line, and its type).
        case changed(Location, recordedType: String)
        /// Nothing is recorded for the name; `certificateAuthorities` are the `@cert-authority` lines that name it,
        /// which libssh2 1.10 cannot use (it has no host certificates).
        case unknown(certificateAuthorities: [Location])
    }

    public let files: [KnownHostsFile]

    /// The files in the order ssh reads them (the user's, then the system's); missing files are skipped.
    public init(paths: [String]) {
        files = paths.compactMap(KnownHostsFile.read)
    }

    init(files: [KnownHostsFile]) {
        self.files = files
    }

    public func verdict(for key: HostKey, name: String) -> Verdict {
        var known: Location?
        var other: (Location, String)?
        var authorities: [Location] = []
        for file in files {
            for entry in file.entries where entry.applies(to: name) {
                let location = Location(file: file.path, line: entry.line)
                switch entry.marker {
                case .revoked:
                    if entry.keyBlob == key.blob { return .revoked(location) }
                case .certAuthority:
                    authorities.append(location)
                case .none:
                    if entry.keyBlob == key.blob {
                        if known == nil { known = location }
                    } else if other == nil {
                        other = (location, entry.keyType)
                    }
                }
            }
        }
        if let known { return .known(known) }
        if let (location, type) = other { return .changed(location, recordedType: type) }
        return .unknown(certificateAuthorities: authorities)
    }

    /// The key types recorded for `name`, in file order, so the handshake can ask for one of them first.
    public func recordedKeyTypes(for name: String) -> [String] {
        var types: [String] = []
        for file in files {
            for entry in file.entries where entry.marker == .none && entry.applies(to: name) && !types.contains(entry.keyType) {
                types.append(entry.keyType)
            }
        }
        return types
    }

    /// Appends `key` for `name` to `file` (hashed when `hashName`, as HashKnownHosts asks), creating the file and a
    /// 0700 directory when needed. Under an exclusive flock on the file, and not when the file has that key for that
    /// name by then: targets of one fan-out, or two pss processes, that add keys at once write each line whole and
    /// once.
    public static func add(_ key: HostKey, name: String, to file: String, hashName: Bool) throws {
        let directory = (file as NSString).deletingLastPathComponent
        if !directory.isEmpty, access(directory, F_OK) != 0 {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        let fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SSHError.unsupported("cannot write \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0, errno == EINTR {}
        var size = stat()
        fstat(fd, &size)
        var existing = [UInt8](repeating: 0, count: Int(size.st_size))
        let got = existing.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        if got == existing.count,
            KnownHostsFile.parse(existing, path: file).entries.contains(where: {
                $0.marker == .none && $0.keyBlob == key.blob && $0.applies(to: name)
            })
        {
            return
        }
        // A new entry starts on its own line.
        var last: UInt8 = 0x0A
        if size.st_size > 0 { _ = pread(fd, &last, 1, size.st_size - 1) }
        let host = hashName ? HashedHostName.make(name) : name.asciiLowercased
        let text = (last == 0x0A ? "" : "\n") + "\(host) \(key.algorithm.rawValue) \(Data(key.blob).base64EncodedString())\n"
        let written = text.withCString { write(fd, $0, strlen($0)) }
        guard written == text.utf8.count else {
            throw SSHError.unsupported("cannot write \(file): \(String(cString: strerror(errno)))")
        }
    }
}
