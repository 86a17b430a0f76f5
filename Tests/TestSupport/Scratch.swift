import Foundation
import Glibc

/// A temporary directory for one fixture, removed when the fixture goes.
public final class Scratch {
    public let path: String

    public init(_ label: String) {
        var template = Array("/tmp/pss-test-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template)
        chmod(path, 0o755)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    public func write(_ name: String, _ text: String, mode: Int = 0o644) -> String {
        let target = file(name)
        try! FileManager.default.createDirectory(
            atPath: (target as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try! text.write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, mode_t(mode))
        return target
    }

    public func read(_ name: String) -> String {
        (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released: good enough when the caller binds it at once).
/// A loopback port free now, and never handed out before in this process: servers in a network namespace of
/// their own are checked against ports there, not here, so two of them must not be given the same one.
public func freePort() -> Int {
    portsLock.lock()
    defer { portsLock.unlock() }
    while true {
        let port = anyFreePort()
        if portsGiven.insert(port).inserted { return port }
    }
}

nonisolated(unsafe) private var portsGiven = Set<Int>()
private let portsLock = NSLock()

private func anyFreePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = bind(fd, $0, length)
            _ = getsockname(fd, $0, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits until something accepts TCP connections on `port`, or `limit` seconds pass.
public func waitForListener(port: Int, limit: Double = 10) -> Bool {
    Processes.waitUntil(limit: limit) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// A small tmpfs mounted for a test (a host directory whose disk can fill up), unmounted when let go.
public final class Tmpfs {
    public let scratch = Scratch("tmpfs")
    public var path: String { scratch.file("mnt") }

    /// `options`: more mount options (`noexec`, `ro`).
    public init(megabytes: Int, options: [String] = []) {
        shell("mkdir -p '\(path)' && mount -t tmpfs -o \((["size=\(megabytes)m"] + options).joined(separator: ",")) tmpfs '\(path)'")
    }

    deinit {
        _ = ProcessRunner.run("/bin/umount", ["-l", path])
    }

    /// Free space, in KiB.
    public var freeKiB: Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int(info.f_bavail) * Int(info.f_frsize) / 1024
    }

    /// Takes all the free space but `kiB` with a file of its own; returns its path (delete it to free the space).
    @discardableResult
    public func fill(leaving kiB: Int) -> String {
        let filler = path + "/filler-\(UUID().uuidString)"
        shell("fallocate -l \(max(0, freeKiB - kiB))K '\(filler)'")
        return filler
    }
}

/// A client of a Unix socket, as a local program would connect to the host daemon.
public enum UnixSocket {
    /// A connected socket, or -1.
    public static func connect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if status != 0 { close(fd); return -1 }
        return fd
    }
}

/// `count` random bytes: input that no mix-up of offsets or frames can pass for itself.
public func randomBytes(_ count: Int) -> Data {
    let handle = FileHandle(forReadingAtPath: "/dev/urandom")!
    defer { handle.closeFile() }
    return handle.readData(ofLength: count)
}
