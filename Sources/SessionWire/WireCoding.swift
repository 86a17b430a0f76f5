/// Appends the wire encodings: fixed-width big-endian integers, and length-prefixed strings and byte runs.
public struct WireWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// A writer for one framed message: the length is reserved up front and filled in by `framed()`, so the
    /// payload is never copied to put a header before it.
    static func frame() -> WireWriter {
        var writer = WireWriter()
        writer.bytes = [0, 0, 0, 0]
        return writer
    }

    /// The frame: the reserved length set to what follows it (and to `following` bytes sent after it, for a frame
    /// whose payload goes out separately). The writer hands its bytes over (no copy).
    consuming func framed(following: Int = 0) -> [UInt8] {
        var result: [UInt8] = []
        swap(&result, &bytes)
        let length = UInt32(result.count - 4 + following)
        for index in 0..<4 { result[index] = UInt8(truncatingIfNeeded: length >> UInt32(24 - 8 * index)) }
        return result
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    public mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }
    public mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }

    public mutating func string(_ value: String) { data(Array(value.utf8)) }

    public mutating func data<C: Collection>(_ value: C) where C.Element == UInt8 {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
}

/// Reads what `WireWriter` wrote; every read checks the bounds and throws `WireError.truncated` past the end.
public struct WireReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    public var isAtEnd: Bool { index == bytes.endIndex }

    public mutating func u8() throws -> UInt8 {
        guard index < bytes.endIndex else { throw WireError.truncated }
        defer { index += 1 }
        return bytes[index]
    }

    public mutating func bool() throws -> Bool { try u8() != 0 }

    public mutating func u32() throws -> UInt32 {
        guard bytes.endIndex - index >= 4 else { throw WireError.truncated }
        defer { index += 4 }
        return bytes[index..<index + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func u64() throws -> UInt64 {
        guard bytes.endIndex - index >= 8 else { throw WireError.truncated }
        defer { index += 8 }
        return bytes[index..<index + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }

    public mutating func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
    public mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    public mutating func data() throws -> ArraySlice<UInt8> {
        let count = Int(try u32())
        guard bytes.endIndex - index >= count else { throw WireError.truncated }
        defer { index += count }
        return bytes[index..<index + count]
    }

    public mutating func string() throws -> String {
        guard let text = String(validating: try data(), as: UTF8.self) else { throw WireError.invalidText }
        return text
    }
}

/// Splits a byte stream into frames, whatever sizes the reads that fill it come in.
public struct FrameDecoder {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Frames returned earlier are slices of this buffer: let go of them before appending again, or the buffer is
    /// copied.
    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        // Compact before growing, not after each frame: consumed bytes are dropped in one move.
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 1 << 20 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The bytes appended and not taken as frames yet (for whoever carries on reading the stream).
    public var unread: [UInt8] { Array(buffer[start...]) }

    /// The next complete frame's body (type byte and payload), or nil until one is complete.
    public mutating func nextFrame() throws -> ArraySlice<UInt8>? {
        guard buffer.count - start >= 4 else { return nil }
        let length = Int(buffer[start..<start + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard length > 0, length <= WireProtocol.maximumFrame else { throw WireError.frameTooLarge(length) }
        guard buffer.count - start - 4 >= length else { return nil }
        let frame = buffer[start + 4..<start + 4 + length]
        start += 4 + length
        return frame
    }

    public var bufferedByteCount: Int { buffer.count - start }
}
