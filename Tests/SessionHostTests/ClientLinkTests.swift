import Foundation
import Glibc
@testable import SessionHost
import SessionWire
import XCTest

/// A link's output queue: output frames sent from a spool file (spliced into sshd's pipe, or copied where the
/// channel is a socket) arrive whole, in order with the messages around them, whatever the pipe takes at a time.
final class ClientLinkTests: XCTestCase {
    var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "pss-link-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A link whose channel output is `output` (the write end of a pipe or a socket), as a relay passes it.
    private func link(writingTo output: Int32) -> ClientLink {
        var control: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &control), 0)
        var input: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&input), 0)
        XCTAssertTrue(DescriptorPassing.send([input[0], output], words: [], over: control[1]))
        [input[0], output, control[1]].forEach { close($0) }
        let link = ClientLink(control: control[0])
        XCTAssertTrue(link.adoptDescriptors())
        return link
    }

    private func spool(with bytes: [UInt8]) -> OutputSpool {
        try! SessionHostTests.spool(with: bytes, at: directory + "/stdout")
    }

    /// Reads `reader` until the link has nothing pending and the reader has nothing more, flushing as it goes.
    private func collect(_ reader: Int32, from link: ClientLink) -> [HostMessage] {
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 50_000)  // less than a pipe's worth: the frame goes in parts
        var messages: [HostMessage] = []
        while true {
            link.flush()
            let count = read(reader, &buffer, buffer.count)
            if count > 0 { decoder.append(buffer[0..<count]) }
            while let body = try! decoder.nextFrame() { messages.append(try! HostMessage(decoding: body)) }
            if count <= 0 && link.pendingOutput == 0 { return messages }
        }
    }

    private let bytes = (0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 12) }

    /// Sends a 3 MiB frame between two messages, then a small one; `meanwhile` runs once the pipe is full.
    private func check(outputWritingTo writer: Int32, readingFrom reader: Int32, meanwhile: (ClientLink, OutputSpool) -> Void = { _, _ in }) {
        let spool = spool(with: bytes)
        defer { spool.closeAll() }
        let link = link(writingTo: writer)
        defer { link.close() }
        _ = fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) | O_NONBLOCK)

        link.send(.notice("before"))
        link.sendOutput(from: spool, offset: 1000, count: 3 << 20)
        XCTAssertGreaterThan(link.pendingOutput, 0, "3 MiB do not fit in the pipe at once")
        link.send(.notice("after"))
        link.sendOutput(from: spool, offset: 5, count: 10)
        meanwhile(link, spool)
        let messages = collect(reader, from: link)

        XCTAssertFalse(link.isClosed)
        XCTAssertEqual(messages.count, 4)
        guard messages.count == 4 else { return }
        guard case .notice("before") = messages[0], case .notice("after") = messages[2] else {
            return XCTFail("messages out of order: \(messages.map { "\($0)".prefix(40) })")
        }
        guard case let .output(.stdout, offset, payload) = messages[1], case let .output(.stdout, 5, small) = messages[3] else {
            return XCTFail("no output frames where expected")
        }
        XCTAssertEqual(offset, 1000)
        XCTAssertTrue(payload.elementsEqual(bytes[1000..<(1000 + 3 << 20)]), "the frame carries the file's bytes at its offset")
        XCTAssertEqual(Array(small), Array(bytes[5..<15]))
    }

    func testOutputSplicedFromTheSpoolIntoAPipeArrivesWholeAndInOrder() {
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&ends), 0)
        defer { close(ends[0]) }
        check(outputWritingTo: ends[1], readingFrom: ends[0])
    }

    func testOutputToASocketIsCopiedInstead() {
        // splice(2) needs a pipe at one end: a channel another server hands over as a socket gets a copy.
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends), 0)
        defer { close(ends[0]) }
        check(outputWritingTo: ends[1], readingFrom: ends[0])
    }

    func testOutputFreedWhileInThePipeOrQueuedArrivesIntact() {
        // Another client acknowledged everything (a takeover from a stalled one) and the spool frees its blocks:
        // what sits in the pipe as page-cache folios keeps its bytes, and what is queued is read into memory first.
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&ends), 0)
        defer { close(ends[0]) }
        check(outputWritingTo: ends[1], readingFrom: ends[0]) { link, spool in
            spool.acked = spool.written
            spool.sent = spool.written
            spool.releaseAcknowledged(beforeFreeing: { link.keepInMemory(outputOf: spool, below: $0) })
            var info = stat()
            XCTAssertEqual(fstat(spool.file, &info), 0)
            XCTAssertLessThan(Int(info.st_blocks) * 512, 1 << 20, "the blocks were freed")
        }
    }

    func testSpoolShorterThanTheFrameClosesTheLink() {
        // The header has announced the bytes: a file that ends before them cannot be sent, and a frame cut short
        // would make the client read the next one out of its middle.
        let spool = spool(with: [UInt8](repeating: 1, count: 100))
        defer { spool.closeAll() }
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&ends), 0)
        defer { close(ends[0]) }
        let link = link(writingTo: ends[1])
        defer { link.close() }
        link.sendOutput(from: spool, offset: 50, count: 200)
        XCTAssertTrue(link.isClosed)
    }
}
