import CLibSSH2
import Foundation
import Glibc
import Logging
@testable import SSHClient
import TestSupport
import XCTest

/// A channel's wait, against a real sshd. A read of one stream takes in whatever the socket holds, for both: what it
/// took in for the other stream must end the next wait at once, not the next packet (a keepalive away, or never).
final class ChannelWaitTests: XCTestCase {
    func testInputTakenInByTheOtherStreamsReadEndsTheWait() throws {
        let server = SSHServer()
        let client = ClientMachine(servers: ["h": server])
        var settings = try SSHConfigResolver.load(configFile: client.configPath, commandLine: [])
            .resolve(try HostSpec(parsing: "h"))
        settings.serverAliveInterval = 60  // no keepalive within the wait, to end one that should not have begun
        let connection = try SSHConnection.connect(
            settings: settings, trust: KnownHostsTrust(prompter: NoPrompter()),
            credentials: Credentials(), prompter: NoPrompter(),
            logger: Logger(label: "test"))
        // A keepalive now, as every connection's first wait sends: its answer (a 1-byte packet nobody takes) stays
        // queued ahead of the channel's data, where it fools libssh2_poll_channel_read.
        _ = try connection.keepAlive()
        // Answers one line on stdout, then stays, silent: nothing else will come to wake a poll of the socket.
        let channel = try connection.openExec("read line; echo \"$line\"; read more")
        try channel.writeAll(Array("ping\n".utf8))

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        // Below libssh2: wait for the socket, and let only stderr reads take in what came, until the answer has.
        for _ in 0..<50 where !channel.hasBufferedInput {
            var socket = pollfd(fd: connection.socket.descriptor, events: Int16(POLLIN), revents: 0)
            XCTAssertEqual(poll(&socket, 1, 10_000), 1, "the answer never reached the socket")
            XCTAssertEqual(try channel.read(.stderr, into: buffer), 0)
        }
        XCTAssertTrue(channel.hasBufferedInput)
        XCTAssertNotEqual(libssh2_poll_channel_read(channel.pointer, 1), 1, "the keepalive's answer is not queued first")

        let started = Date()
        _ = try channel.wait(timeout: 20_000)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "the wait lasted until its timeout")
        let count = try channel.read(.stdout, into: buffer)
        XCTAssertEqual(String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<count]), as: UTF8.self), "ping\n")
        try channel.sendEOFWaiting()
        XCTAssertEqual(try channel.close(), .exited(1))
    }
}
