import Foundation
import Glibc

/// A loopback TCP proxy between a client and a server that can stall every connection (a black hole: sockets stay
/// open, no byte moves) or reset them (RST), to test what a client does when the network fails.
public final class TCPProxy {
    public enum Mode { case forward, stall }

    public let port: Int
    private let targetPort: Int
    private let listener: Int32
    private var wakePipe: [Int32] = [0, 0]
    private let lock = NSLock()
    private var mode = Mode.forward
    private var pairs: [(client: Int32, server: Int32)] = []
    private var resetRequested = false
    private var forwarded = 0
    private var stopping = false
    private var thread: Thread?

    public init(targetPort: Int) {
        self.targetPort = targetPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                precondition(bind(listener, $0, length) == 0)
                getsockname(listener, $0, &length)
            }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listen(listener, 64)
        makePipe(&wakePipe)
        for end in wakePipe { _ = fcntl(end, F_SETFL, O_NONBLOCK) }
        startThread()
    }

    private func startThread() {
        let thread = Thread { [unowned self] in self.loop() }
        self.thread = thread
        thread.start()
    }

    deinit { stop() }

    public func setMode(_ newMode: Mode) {
        lock.withLock { mode = newMode }
        wake()
    }

    /// Resets every open connection (the peers see ECONNRESET); new ones are still accepted.
    public func resetAll() {
        lock.withLock { resetRequested = true }
        wake()
    }

    public var connectionCount: Int { lock.withLock { pairs.count } }

    /// Bytes carried so far, both ways: lets a test cut a stream once it is well under way.
    public var bytesForwarded: Int { lock.withLock { forwarded } }

    /// Waits until more than `count` bytes have been carried; false after `limit` seconds.
    public func waitForBytes(_ count: Int, limit: Double = 30) -> Bool {
        Processes.waitUntil(limit: limit) { bytesForwarded > count }
    }

    public func stop() {
        let alreadyStopping = lock.withLock { () -> Bool in
            defer { stopping = true }
            return stopping
        }
        guard !alreadyStopping else { return }
        wake()
        while lock.withLock({ thread != nil }) { usleep(1000) }
        close(listener)
        close(wakePipe[0]); close(wakePipe[1])
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakePipe[1], &byte, 1)
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let (currentMode, shouldReset, shouldStop, current) = lock.withLock { () -> (Mode, Bool, Bool, [(Int32, Int32)]) in
                defer { resetRequested = false }
                return (mode, resetRequested, stopping, pairs)
            }
            if shouldStop || shouldReset {
                for (client, server) in current { Self.reset(client); Self.reset(server) }
                lock.withLock { pairs.removeAll() }
                if shouldStop { lock.withLock { thread = nil }; return }
                continue
            }
            var descriptors = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0)]
            if currentMode == .forward {
                for (client, server) in current {
                    descriptors.append(pollfd(fd: client, events: Int16(POLLIN), revents: 0))
                    descriptors.append(pollfd(fd: server, events: Int16(POLLIN), revents: 0))
                }
            }
            guard poll(&descriptors, nfds_t(descriptors.count), -1) > 0 else { continue }
            if descriptors[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakePipe[0], &drain, drain.count) > 0 {}
            }
            if descriptors[0].revents != 0 { accept() }
            for descriptor in descriptors.dropFirst(2) where descriptor.revents != 0 {
                guard let pair = current.first(where: { $0.0 == descriptor.fd || $0.1 == descriptor.fd }) else { continue }
                let other = descriptor.fd == pair.0 ? pair.1 : pair.0
                let count = read(descriptor.fd, &buffer, buffer.count)
                if count > 0 { lock.withLock { forwarded += count } }
                if count <= 0 || !Self.writeAll(other, buffer, count) {
                    close(pair.0); close(pair.1)
                    lock.withLock { pairs.removeAll { $0.client == pair.0 } }
                }
            }
        }
    }

    private func accept() {
        let client = Glibc.accept(listener, nil, nil)
        guard client >= 0 else { return }
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = Self.loopback(port: targetPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(client); close(server); return }
        lock.withLock { pairs.append((client, server)) }
    }

    private static func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let written = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, count - offset) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    /// Closes with SO_LINGER 0, which sends RST instead of FIN.
    private static func reset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }
}
