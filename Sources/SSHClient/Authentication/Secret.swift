import CLibSSH2
import Glibc

/// A password, passphrase or keyboard-interactive answer: bytes in memory pss owns and overwrites when it lets them
/// go, never a Swift String (whose copies cannot be wiped). Once a secret exists the process writes no core file.
public final class Secret {
    private let storage: UnsafeMutableBufferPointer<CChar>
    /// The length in bytes, without the terminating NUL.
    public let count: Int

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        pss_disable_core_dumps()
        count = bytes.count
        storage = .allocate(capacity: count + 1)
        for (index, byte) in bytes.enumerated() { storage[index] = CChar(bitPattern: byte) }
        storage[count] = 0
    }

    deinit {
        pss_wipe(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    /// The secret as a C string, for libssh2 calls; the pointer must not outlive `body`.
    public func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try body(storage.baseAddress!)
    }

    /// The secret's bytes, for parsing without a copy.
    public func withBytes<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        try storage.withMemoryRebound(to: UInt8.self) { try body(UnsafeBufferPointer(rebasing: $0[0..<count])) }
    }

    /// A whole small file (a private key), read straight into a secret; nil when it cannot be read (errno says
    /// why) or is larger than `limit`.
    public static func contents(ofFile path: String, limit: Int = 1 << 20) -> Secret? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) <= limit else { errno = EFBIG; return nil }
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Int(info.st_size) + 1)
        defer { pss_wipe(buffer.baseAddress, buffer.count); buffer.deallocate() }
        var length = 0
        while length < buffer.count {
            let count = read(fd, buffer.baseAddress! + length, buffer.count - length)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return nil }
            if count == 0 { break }
            length += count
        }
        return Secret(UnsafeBufferPointer(rebasing: buffer[0..<length]))
    }

    /// A malloc'd copy for libssh2 to own (it frees it through pss's wiping allocator).
    func mallocCopy() -> UnsafeMutablePointer<CChar> {
        let copy = malloc(count + 1)!.assumingMemoryBound(to: CChar.self)
        copy.initialize(from: storage.baseAddress!, count: count + 1)
        return copy
    }

    /// Reads the first line of `path` (a --password-file) without a String copy; nil when it cannot be read.
    public static func firstLine(ofFile path: String) -> Secret? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 4096)
        defer { pss_wipe(buffer.baseAddress, buffer.count); buffer.deallocate() }
        var length = 0
        while length < buffer.count {
            let count = read(fd, buffer.baseAddress! + length, buffer.count - length)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            length += count
            if buffer[0..<length].contains(0x0A) { break }
        }
        var end = buffer[0..<length].firstIndex(of: 0x0A) ?? length
        if end > 0, buffer[end - 1] == 0x0D { end -= 1 }
        return Secret(buffer[0..<end])
    }
}
