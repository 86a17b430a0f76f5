import Foundation
import Glibc
import SessionWire
import SSHClient

/// The `pss-host` binary this client uploads: where it is here, and its identity (SHA-256), which names it on
/// hosts, so that hosts hold each build once and never run a binary other than the one this client carries.
public struct HelperBinary {
    public let path: String
    public let size: Int
    public let sha256: String

    /// The file name on hosts: `pss-host-` and the first 16 hex digits of the SHA-256.
    public var installedName: String { "pss-host-" + sha256.prefix(16) }

    /// The CPU architecture the helper was built for, as `uname -m` prints it.
    public static var architecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #else
        return "unknown"
        #endif
    }

    /// The oldest glibc the helper runs on: what the build machine links against (Debian 12).
    public static let minimumGlibc = (2, 34)

    /// Finds the helper: `$PSS_HELPER`, beside the `pss` executable, or `/usr/local/lib/pss/pss-host`. Its hash is
    /// cached in the client directory under the file's identity, so it is computed once per build.
    public static func locate(state: ClientState, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> HelperBinary {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let candidates = [environment["PSS_HELPER"], (executable as NSString).deletingLastPathComponent + "/pss-host",
                          "/usr/local/lib/pss/pss-host"].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw SessionError.local("the pss-host helper was not found (looked in \(candidates.joined(separator: ", "))); install it beside pss")
        }
        // It runs as the user on every host it reaches: nobody else may have been able to replace it.
        try FileSafety.checkTrustedProgram(path)
        var info = stat()
        guard stat(path, &info) == 0 else { throw SessionError.local("cannot read \(path): \(String(cString: strerror(errno)))") }
        let size = Int(info.st_size)
        // The cache is named by what identifies this build of the file (device, inode, size, change time), and
        // holds nothing but a digest: anything else in it is ignored and recomputed.
        let cache = "helper-\(info.st_dev)-\(info.st_ino)-\(size)-\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec).sha256"
        if let bytes = try state.read(cache) {
            let cached = String(decoding: bytes, as: UTF8.self)
            if isDigest(cached) { return HelperBinary(path: path, size: size, sha256: cached) }
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SessionError.local("cannot read \(path)")
        }
        let digest = SHA256.hex(data)
        state.removeFiles { $0.hasPrefix("helper-") && $0.hasSuffix(".sha256") }  // earlier builds'
        try? state.write(cache, Array(digest.utf8))
        return HelperBinary(path: path, size: size, sha256: digest)
    }

    /// 64 lower-case hexadecimal digits.
    static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public func contents() throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SessionError.local("cannot read \(path)") }
        return [UInt8](data)
    }
}
