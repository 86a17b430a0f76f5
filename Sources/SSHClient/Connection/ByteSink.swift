import Glibc

/// Where a remote stream's bytes go.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Writes to a file descriptor, all of it, waiting if the descriptor is non-blocking and full.
public final class FileDescriptorSink: ByteSink {
    public let descriptor: Int32

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EAGAIN {
                var descriptor = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, -1)
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                throw SinkError(descriptor: descriptor, errno: errno)
            }
        }
    }

    public struct SinkError: Error, CustomStringConvertible {
        public var descriptor: Int32
        public var errno: Int32
        public var description: String { "writing output: \(String(cString: strerror(errno)))" }
    }
}

/// Keeps everything in memory (for --json).
public final class BufferSink: ByteSink {
    public private(set) var bytes: [UInt8] = []
    /// The most it takes: more is an error (a host that floods what should be a few lines).
    public let limit: Int

    public struct Overflow: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "the host sent more than \(limit) bytes where a few lines were expected" }
    }

    public init(limit: Int = .max) {
        self.limit = limit
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard self.bytes.count + bytes.count <= limit else { throw Overflow(limit: limit) }
        self.bytes.append(contentsOf: bytes)
    }
}
