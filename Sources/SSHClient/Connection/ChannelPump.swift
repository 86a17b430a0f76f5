import Glibc

/// Moves bytes between a channel and a local descriptor (one end of a socket pair, a unix socket), both
/// non-blocking, bounded each way: a side that stops reading holds up the other, not memory. It ends when either
/// side ends: the descriptor's end sends EOF on the channel; the channel's end is passed on once its last bytes are.
/// Its owner calls `step` and `wait` on the thread that owns the channel's connection.
public final class ChannelPump {
    public let channel: SSHChannel
    public let descriptor: Int32
    private var toChannel: [UInt8] = []
    private var toDescriptor: [UInt8]
    private var channelTakesNoMore = false
    public private(set) var isFinished = false
    /// The descriptor ended with the channel in a state to serve again (`observer` said so): it was not sent EOF.
    public private(set) var leftChannelReusable = false
    /// Sees the bytes go by, and decides whether the channel outlives the descriptor.
    public weak var observer: ChannelPumpObserver?
    static let limit = 1 << 20

    /// `initialOutput`: bytes that came on the channel before the pump took it, passed on first.
    public init(channel: SSHChannel, descriptor: Int32, initialOutput: [UInt8] = []) {
        self.channel = channel
        self.descriptor = descriptor
        self.toDescriptor = initialOutput
    }

    /// Moves what can move now, without waiting; returns whether anything moved. Throws when the connection fails.
    public func step(_ buffer: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard !isFinished else { return false }
        var moved = false
        var descriptorEnded = false
        if !channelTakesNoMore, toChannel.count < Self.limit {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count > 0 {
                observer?.pumped(toChannel: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                toChannel += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                moved = true
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                descriptorEnded = true
            }
        }
        if !toChannel.isEmpty {
            do {
                let written = try toChannel.withUnsafeBytes { try channel.write($0) }
                if written > 0 {
                    toChannel.removeFirst(written)
                    moved = true
                }
            } catch is SSHChannel.ChannelClosed {
                // The remote side closed: what it sent last still goes to the descriptor.
                channelTakesNoMore = true
                toChannel = []
            }
        }
        // Whoever held the descriptor is gone: nothing it left unsent matters any more.
        if descriptorEnded {
            if toChannel.isEmpty, toDescriptor.isEmpty, !channel.isAtEnd, observer?.channelIsReusable == true {
                leftChannelReusable = true
            } else {
                _ = channel.sendEOF()
            }
            isFinished = true
            return true
        }
        if toDescriptor.count < Self.limit {
            let count = try channel.read(.stdout, into: buffer)
            if count > 0 {
                observer?.pumped(toDescriptor: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                toDescriptor += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                moved = true
            }
            // Diagnostics (a relay's) are not the descriptor's: read, so that the window stays open, and dropped.
            if try channel.read(.stderr, into: buffer) > 0 { moved = true }
        }
        if !toDescriptor.isEmpty {
            let written = toDescriptor.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 {
                toDescriptor.removeFirst(written)
                moved = true
            } else if written < 0, errno != EAGAIN, errno != EINTR {
                isFinished = true  // whoever held the descriptor is gone (SIGPIPE is ignored by pss)
                return true
            }
        }
        if channel.isAtEnd && toDescriptor.isEmpty {
            isFinished = true
            return true
        }
        return moved
    }

    /// Runs the pump on a thread of its own, which alone calls libssh2 on the channel's connection from then on,
    /// until it finishes (or the connection fails); then closes the descriptor. nil when no thread can be started.
    public func startThread() -> pthread_t? {
        let pump = UncheckedBox(self)
        return JoinableThread.start {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: SSHConnection.readSize, alignment: 16)
            defer {
                buffer.deallocate()
                close(pump.value.descriptor)
            }
            do {
                while !pump.value.isFinished {
                    if try pump.value.step(buffer) { continue }
                    _ = try pump.value.channel.wait(extra: [pump.value.pollDescriptor])
                }
            } catch {
                // The connection failed: the descriptor closes, and whoever holds its other end sees it lost.
            }
        }
    }

    /// What to wait for on the descriptor.
    public var pollDescriptor: pollfd {
        var events = Int16(0)
        if !channelTakesNoMore && toChannel.count < Self.limit { events |= Int16(POLLIN) }
        if !toDescriptor.isEmpty { events |= Int16(POLLOUT) }
        return pollfd(fd: descriptor, events: events, revents: 0)
    }
}

/// Follows what a `ChannelPump` moves, for an owner that understands the bytes (the connection keeper, which
/// gives a link whose conversation ended cleanly to the next command).
public protocol ChannelPumpObserver: AnyObject {
    func pumped(toChannel bytes: UnsafeRawBufferPointer)
    func pumped(toDescriptor bytes: UnsafeRawBufferPointer)
    /// Asked when the descriptor ends with nothing left to move either way: whether the channel may serve again.
    var channelIsReusable: Bool { get }
}

/// Hands a value to another thread that alone uses it from then on.
private struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
