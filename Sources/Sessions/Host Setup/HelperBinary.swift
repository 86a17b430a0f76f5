import Foundation
import Glibc
import SessionWire
import SSHClient

/// The `pss-host` binary this client uploads: where it is here, and its identity (SHA-256), which names it on
/// hosts, so that hosts hold each build once and never run a binary other than the one this client carries. The
/// file is opened once: the bytes checked, hashed and uploaded are those of that descriptor, whatever happens to the
/// path meanwhile.
public final class HelperBinary {
    public let path: String
    public let size: Int
    public let sha256: String
    private let descriptor: Int32

    private init(path: String, size: Int, sha256: String, descriptor: Int32) {
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

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

    /// What the helper needs of a host's C library: nothing. It is one static program (the Swift runtime,
    /// libstdc++ and glibc linked in, accounts read without NSS), so it runs with any glibc, with musl, or with no
    /// libc at all; only the CPU must match.
    public static let libcNeeded = "none (static: any glibc, musl, or no libc)"

    /// Why a host with this CPU (`uname -m`) cannot run the helper; nil when it can.
    static func platformProblem(arch: String) -> String? {
        guard arch == architecture else {
            return "the host is \(arch) and this pss carries a helper for \(architecture) only; "
                + "a helper for \(arch) is built by scripts/install on an \(arch) machine"
        }
        return nil
    }

    /// The host's C library as its facts name it (`libc=`): `glibc 2.31`, `musl 1.2.4`, or none found.
    static func describeLibc(_ fact: String?) -> String {
        guard let fact, !fact.isEmpty else { return "no libc found" }
        return fact
    }

    /// The room the helper needs on a host: itself, and a session or two.
    var spaceNeededKiB: Int { size / 1024 + 1024 }

    /// This pss program's file: the helper is looked for beside it, and the connection keeper is this program too.
    static let pssExecutable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

    /// Finds the helper: `$PSS_HELPER`, beside the `pss` executable (a build), in `../lib/pss/` from it (an install
    /// under a prefix, as scripts/install makes), or `/usr/local/lib/pss/pss-host`. Its hash is cached in the
    /// client directory under the file's identity, so it is computed once per build.
    public static func locate(state: ClientState, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> HelperBinary {
        let directory = (pssExecutable as NSString).deletingLastPathComponent
        let candidates = [
            environment["PSS_HELPER"], directory + "/pss-host",
            ((directory as NSString).deletingLastPathComponent as NSString).appendingPathComponent("lib/pss/pss-host"),
            "/usr/local/lib/pss/pss-host",
        ].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw SessionError.local("the pss-host helper was not found (looked in \(candidates.joined(separator: ", "))); install it beside pss")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SessionError.local("cannot read \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        do {
            guard fstat(fd, &info) == 0 else { throw SessionError.local("cannot read \(path): \(String(cString: strerror(errno)))") }
            try checkTrusted(fd, info, path: path)
        } catch {
            close(fd)
            throw error
        }
        let size = Int(info.st_size)
        // The cache is named by what identifies this build of the file (device, inode, size, change time), and
        // holds nothing but a digest: anything else in it is ignored and recomputed.
        let cache = "helper-\(info.st_dev)-\(info.st_ino)-\(size)-\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec).sha256"
        if let bytes = try? state.read(cache) {
            let cached = String(decoding: bytes, as: UTF8.self)
            if isDigest(cached) { return HelperBinary(path: path, size: size, sha256: cached, descriptor: fd) }
        }
        let partial = HelperBinary(path: path, size: size, sha256: "", descriptor: dup(fd))
        let digest = SHA256.hex(try partial.contents())
        state.removeFiles { $0.hasPrefix("helper-") && $0.hasSuffix(".sha256") }  // earlier builds'
        try? state.write(cache, Array(digest.utf8))
        return HelperBinary(path: path, size: size, sha256: digest, descriptor: fd)
    }

    /// Whoever could replace the helper would run their code as the user on every host it reaches: the file must be
    /// root's or the user's and writable by nobody else, and so must every directory above it, unless sticky (a
    /// group whose only member is the user counts as the user's). Checked on the open file and the path it has.
    private static func checkTrusted(_ fd: Int32, _ file: stat, path: String) throws {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard length > 0 else { throw SessionError.local("cannot find where \(path) is: \(String(cString: strerror(errno)))") }
        var current = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var info = file
        var isProgram = true
        while true {
            let refuse = { (reason: String) in FileSafety.Refusal(path: current, reason: reason) }
            if info.st_uid != 0 && info.st_uid != getuid() { throw refuse("owned by uid \(info.st_uid), neither root nor you") }
            let sticky = !isProgram && info.st_mode & S_ISVTX != 0
            if !sticky && info.st_mode & 0o002 != 0 {
                throw refuse("writable by others (mode \(FileSafety.octal(info.st_mode)))")
            }
            if !sticky && info.st_mode & 0o020 != 0 && !UnixAccount.isPrivateGroup(info.st_gid) {
                throw refuse("writable by its group, which has members other than you (mode \(FileSafety.octal(info.st_mode)))")
            }
            if current == "/" { return }
            current = current.lastIndex(of: "/").map { $0 == current.startIndex ? "/" : String(current[..<$0]) } ?? "/"
            isProgram = false
            guard lstat(current, &info) == 0 else { throw refuse(String(cString: strerror(errno))) }
        }
    }

    /// The file beside the helper named as it with `suffix` (`pss-host.xz`, as scripts/install puts it), checked
    /// as the helper is; nil when there is none, or it cannot be trusted (the helper then travels another way).
    func sibling(_ suffix: String) -> [UInt8]? {
        let siblingPath = path + suffix
        let fd = open(siblingPath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size < size,
            (try? Self.checkTrusted(fd, info, path: siblingPath)) != nil
        else { return nil }
        return Self.read(fd, count: Int(info.st_size))
    }

    /// 64 lower-case hexadecimal digits.
    static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The helper's bytes, read from the descriptor opened and checked.
    public func contents() throws -> [UInt8] {
        guard let bytes = Self.read(descriptor, count: size) else {
            throw SessionError.local("cannot read \(path): it changed while pss used it")
        }
        return bytes
    }

    /// `count` bytes of `fd` from its start (pread: the descriptor's offset is left alone); nil when it has fewer.
    private static func read(_ fd: Int32, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, count - offset, off_t(offset)) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            offset += got
        }
        return bytes
    }
}
