import CLibSSH2
import Foundation
import Glibc

/// Looks host keys up in OpenSSH known_hosts files. Matching is libssh2's (plain, hashed `|1|` and `[host]:port`
/// entries); pss reads the files line by line around it so that a changed key can be reported by file and line.
struct KnownHosts {
    enum Lookup: Equatable {
        case match
        case mismatch(file: String, line: Int)
        case notFound
    }

    let session: OpaquePointer
    let files: [String]

    /// Checks `key` for `name` (`host` or `[host]:port`). A mismatch only counts for a key of the same type, so
    /// a host known with several key types is matched on the right one.
    func lookup(_ key: HostKey, name: String) -> Lookup {
        var sawMismatch: (String, Int)?
        for file in files {
            for (number, line) in lines(of: file) {
                switch check(line: line, name: name, key: key.blob, typeMask: key.algorithm.knownHostTypeMask) {
                case LIBSSH2_KNOWNHOST_CHECK_MATCH: return .match
                case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: if sawMismatch == nil { sawMismatch = (file, number) }
                default: break
                }
            }
        }
        if let (file, line) = sawMismatch { return .mismatch(file: file, line: line) }
        return .notFound
    }

    /// The key types recorded for `name`, so the handshake can ask for one of them first, as OpenSSH does.
    func knownAlgorithms(name: String) -> [HostKey.Algorithm] {
        var found: [HostKey.Algorithm] = []
        for file in files {
            for (_, line) in lines(of: file) {
                for algorithm in HostKey.Algorithm.allCases where !found.contains(algorithm) {
                    // A one-byte key never matches, so any answer but NOTFOUND means "known with this type".
                    let result = check(line: line, name: name, key: [0], typeMask: algorithm.knownHostTypeMask)
                    if result != LIBSSH2_KNOWNHOST_CHECK_NOTFOUND && result != LIBSSH2_KNOWNHOST_CHECK_FAILURE {
                        found.append(algorithm)
                    }
                }
            }
        }
        return found
    }

    /// Appends `key` for `name` to `file`, creating the file (and a 0700 directory) if needed.
    static func add(_ key: HostKey, name: String, to file: String) throws {
        let directory = (file as NSString).deletingLastPathComponent
        if !directory.isEmpty, access(directory, F_OK) != 0 {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SSHError.unsupported("cannot write \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        // Make sure the new entry starts on its own line.
        var needsNewline = false
        if let existing = try? Data(contentsOf: URL(fileURLWithPath: file)), let last = existing.last, last != 0x0A {
            needsNewline = true
        }
        let text = (needsNewline ? "\n" : "") + key.knownHostsLine(for: name) + "\n"
        let written = text.withCString { write(fd, $0, strlen($0)) }
        guard written == text.utf8.count else {
            throw SSHError.unsupported("cannot write \(file): \(String(cString: strerror(errno)))")
        }
    }

    private func lines(of file: String) -> [(Int, String)] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        var result: [(Int, String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            // Markers (@cert-authority, @revoked) are not understood by libssh2 1.10; skip them rather than
            // misread them.
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), !trimmed.hasPrefix("@") else { continue }
            result.append((index + 1, trimmed))
        }
        return result
    }

    private func check(line: String, name: String, key: [UInt8], typeMask: Int32) -> Int32 {
        guard let hosts = libssh2_knownhost_init(session) else { return LIBSSH2_KNOWNHOST_CHECK_FAILURE }
        defer { libssh2_knownhost_free(hosts) }
        let added = line.withCString { libssh2_knownhost_readline(hosts, $0, strlen($0), LIBSSH2_KNOWNHOST_FILE_OPENSSH) }
        guard added == 0 else { return LIBSSH2_KNOWNHOST_CHECK_FAILURE }
        // Port -1: `name` already carries the `[host]:port` form. libssh2 would otherwise also accept a plain
        // `host` entry for a non-standard port, which OpenSSH does not.
        return key.withUnsafeBufferPointer { keyBytes in
            keyBytes.withMemoryRebound(to: CChar.self) { chars in
                libssh2_knownhost_checkp(hosts, name, -1, chars.baseAddress, key.count,
                                         LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | typeMask, nil)
            }
        }
    }
}
