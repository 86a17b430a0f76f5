import Foundation
import Glibc

/// A loopback TCP proxy between a client and a server that can stall every connection (a black hole: sockets stay
/// open, no byte moves) or reset them (RST), to test what a client does when the network fails.
///
/// Two threads a connection, one per direction, each reading and then writing: a peer that stops reading holds up
/// only its own direction, never the other (a single-threaded proxy with blocking writes would).
public final class TCPProxy {
    public enum Mode { case forward, stall }

    /// The proxy's state, which its threads hold: they never touch the TCPProxy, so it can end (deinit) while
    /// they are still letting go.
    private let core: Core
    public let port: Int

    public init(targetPort: Int) {
        core = Core(targetPort: targetPort)
        port = core.port
    }

    deinit { core.stop() }

    public func setMode(_ newMode: Mode) { core.setMode(newMode) }

    /// Resets every open connection (the peers see ECONNRESET); new ones are still accepted.
    public func resetAll() { core.resetAll() }

    /// Connections open now.
    public var connectionCount: Int { core.connectionCount }

    /// Connections accepted since the proxy started.
    public var acceptedCount: Int { core.acceptedCount }

    /// Bytes carried so far, both ways: lets a test cut a stream once it is well under way.
    public var bytesForwarded: Int { core.bytesForwarded }

    /// Waits until more than `count` bytes have been carried; false after `limit` seconds.
    public func waitForBytes(_ count: Int, limit: Double = 30) -> Bool {
        Processes.waitUntil(limit: limit) { bytesForwarded > count }
    }

    public func stop() { core.stop() }
}

private final class Core {

    private final class Connection {
        let client: Int32
        let server: Int32
        var cut = false
        var openDirections = 2

        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }
    }

    let port: Int
    private let targetPort: Int
    private let listener: Int32
    /// Guards everything below; broadcast when the mode changes or connections are cut.
    private let condition = NSCondition()
    private var mode = TCPProxy.Mode.forward
    private var connections: [Connection] = []
    private var accepted = 0
    private var forwarded = 0
    private var stopping = false
    private var threads = 0

    init(targetPort: Int) {
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
        spawn { self.acceptLoop() }
    }

    func setMode(_ newMode: TCPProxy.Mode) {
        condition.withLock {
            mode = newMode
            condition.broadcast()
        }
    }

    func resetAll() {
        condition.withLock {
            connections.forEach(cut)
            condition.broadcast()
        }
    }

    var connectionCount: Int { condition.withLock { connections.count } }
    var acceptedCount: Int { condition.withLock { accepted } }
    var bytesForwarded: Int { condition.withLock { forwarded } }

    func stop() {
        let alreadyStopping = condition.withLock { () -> Bool in
            defer { stopping = true }
            if !stopping {
                shutdown(listener, Int32(SHUT_RDWR))  // wakes the accepting thread
                connections.forEach(cut)
                condition.broadcast()
            }
            return stopping
        }
        guard !alreadyStopping else { return }
        condition.withLock { while threads > 0 { condition.wait() } }
        close(listener)
    }

    private func spawn(_ body: @escaping () -> Void) {
        condition.withLock { threads += 1 }
        Thread {
            body()
            self.condition.withLock {
                self.threads -= 1
                self.condition.broadcast()
            }
        }.start()
    }

    private func acceptLoop() {
        while true {
            let client = Glibc.accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // the listener was shut down
            }
            // Not inherited by the processes tests start meanwhile: a copy there would keep a reset connection up.
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(client); close(server); continue }
            let connection = Connection(client: client, server: server)
            let stopped = condition.withLock { () -> Bool in
                if stopping { return true }
                connections.append(connection)
                accepted += 1
                return false
            }
            if stopped { close(client); close(server); return }
            spawn { self.pump(connection, from: client, to: server) }
            spawn { self.pump(connection, from: server, to: client) }
        }
    }

    /// Carries one direction until either side ends or the connection is cut; holds what it read while stalled.
    private func pump(_ connection: Connection, from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(source, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            let carry = condition.withLock { () -> Bool in
                while mode == .stall && !connection.cut { condition.wait() }
                if !connection.cut { forwarded += count }
                return !connection.cut
            }
            guard carry, Self.writeAll(destination, buffer, count) else { break }
        }
        condition.withLock {
            // One direction ended: so does the other, as a TCP proxy passes a close on.
            if !connection.cut {
                connection.cut = true
                shutdown(connection.client, Int32(SHUT_RDWR))
                shutdown(connection.server, Int32(SHUT_RDWR))
            }
            connection.openDirections -= 1
            if connection.openDirections == 0 {
                close(connection.client)
                close(connection.server)
                connections.removeAll { $0 === connection }
            }
            condition.broadcast()
        }
    }

    /// Marks a connection cut and makes its threads let go: SO_LINGER 0, so that the close they end with sends RST
    /// instead of FIN, and SHUT_RD, which wakes a blocked read without telling the peer anything.
    private func cut(_ connection: Connection) {
        guard !connection.cut else { return }
        connection.cut = true
        for fd in [connection.client, connection.server] {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            shutdown(fd, Int32(SHUT_RD))
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let written = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }
}
