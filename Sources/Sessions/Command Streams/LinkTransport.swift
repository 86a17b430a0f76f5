import Glibc
import SSHClient

/// What a `HostLink` runs over: an exec channel of this process's own connection, or a socket to the client's
/// connection keeper, which carries the same bytes to and from a channel of its connection. Calls never block
/// except `wait` and `writeAll`.
protocol LinkTransport: AnyObject {
    /// What is there now on `stream` (0: nothing now; see `isAtEnd`).
    func read(_ stream: SSHChannel.Stream, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// What the transport takes now (0: full for now).
    func write(_ bytes: UnsafeRawBufferPointer) throws -> Int
    func writeAll(_ bytes: [UInt8]) throws
    /// The other side ended: nothing more will come once what is there is read.
    var isAtEnd: Bool { get }
    /// Waits until there is something to read or to write, or one of `extra` is ready; returns `extra`.
    func wait(extra: [pollfd], timeout: Int32) throws -> [pollfd]
    func sendEOF() -> Bool
    /// Closes the transport and returns how the remote command ended.
    func close() throws -> ExitStatus
}

extension SSHChannel: LinkTransport {}
