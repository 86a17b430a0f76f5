import SessionWire
import SSHClient

/// What the connection keeper sees of a link's conversation as it moves it: where each direction's frames start
/// and end (a 4-byte big-endian length, then the body, its first byte the message type), and which came last.
/// A link whose last exchange was `release` / `released`, both directions at a frame's end, is as new: the keeper
/// gives it to the next command instead of opening another channel (starting the relay costs tens of
/// milliseconds on the host; a link handed over costs none).
final class LinkFrames: ChannelPumpObserver {
    struct Direction {
        private var header: [UInt8] = []
        private var remaining = 0
        private var currentType: UInt8?
        /// The type byte of the last whole frame.
        private(set) var lastType: UInt8?

        var isAtFrameEnd: Bool { header.isEmpty && remaining == 0 }

        mutating func feed(_ bytes: UnsafeRawBufferPointer) {
            var index = 0
            while index < bytes.count {
                if remaining == 0 {
                    header.append(bytes[index])
                    index += 1
                    if header.count == 4 {
                        remaining = Int(header.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                        header = []
                        currentType = nil
                    }
                    continue
                }
                if currentType == nil { currentType = bytes[index] }
                let taken = min(remaining, bytes.count - index)
                remaining -= taken
                index += taken
                if remaining == 0 { lastType = currentType }
            }
        }
    }

    private(set) var toDaemon = Direction()
    private(set) var toClient = Direction()

    func pumped(toChannel bytes: UnsafeRawBufferPointer) { toDaemon.feed(bytes) }
    func pumped(toDescriptor bytes: UnsafeRawBufferPointer) { toClient.feed(bytes) }

    var channelIsReusable: Bool {
        toDaemon.isAtFrameEnd && toClient.isAtFrameEnd && toDaemon.lastType == ClientMessage.releaseType
            && toClient.lastType == HostMessage.releasedType
    }
}
