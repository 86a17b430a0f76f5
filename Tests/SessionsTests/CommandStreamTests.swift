@testable import Sessions
import SessionWire
import SSHClient
import XCTest

/// What the client does with output frames: no byte twice, gaps from dropped output counted, acknowledgements
/// spaced by the session's buffer.
final class CommandStreamTests: XCTestCase {
    let session = SessionRecord(
        id: "i", name: "s", owner: "o", heldBy: "c", createdAt: 0, idleTimeoutSeconds: 60,
        maxBuffer: 1 << 30)
    let job = JobRecord(
        id: "1", name: "Job1", sessionID: "i", sessionName: "s", state: .running, exitCode: nil,
        command: "c", startedAt: 0, endedAt: 0, hasMoreData: false, isJob: false)

    func testRepeatedOutputIsWrittenOnce() throws {
        let out = BufferSink(), err = BufferSink()
        let stream = CommandStream(stdout: out, stderr: err)
        stream.started(session, job, from: StreamOffsets())
        try stream.output(.stdout, offset: 0, Array("hello ".utf8)[...])
        try stream.output(.stdout, offset: 3, Array("lo world".utf8)[...])  // overlaps what was written
        try stream.output(.stdout, offset: 0, Array("he".utf8)[...])  // wholly repeated
        try stream.output(.stderr, offset: 0, Array("e".utf8)[...])
        XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self), "hello world")
        XCTAssertEqual(err.bytes, Array("e".utf8))
        XCTAssertEqual(stream.received, StreamOffsets(stdout: 11, stderr: 1))
        let invoke = ClientMessage.invoke(.init(session: "s", command: "c", forwardStdin: false, waitSeconds: 0))
        XCTAssertEqual(
            stream.resumeRequest(after: invoke),
            .receive(session: "i", job: "1", from: StreamOffsets(stdout: 11, stderr: 1), follow: true, take: true))
        // A job receive that does not follow stays one when resumed.
        XCTAssertEqual(
            stream.resumeRequest(after: .receive(session: "s", job: "Job1", from: nil, follow: false, take: false)),
            .receive(session: "i", job: "1", from: StreamOffsets(stdout: 11, stderr: 1), follow: false, take: false))
        let waiting = CommandStream(stdout: BufferSink(), stderr: BufferSink(), acknowledges: false, wantsOutput: false)
        waiting.started(session, job, from: StreamOffsets(stdout: 5, stderr: 0))
        XCTAssertEqual(
            waiting.resumeRequest(after: .receive(session: "s", job: "1", from: .end, follow: true, take: false)),
            .receive(session: "i", job: "1", from: .end, follow: true, take: false))
    }

    func testAReceiveStartsWhereTheHostSaysAndCountsDroppedBytes() throws {
        let out = BufferSink()
        let stream = CommandStream(stdout: out, stderr: BufferSink())
        stream.started(session, job, from: StreamOffsets(stdout: 100, stderr: 0))
        try stream.output(.stdout, offset: 90, Array(repeating: 1, count: 20)[...])
        XCTAssertEqual(out.bytes.count, 10)
        stream.dropped(.stdout, from: 110, to: 500)
        XCTAssertEqual(stream.dropped.stdout, 390)
        XCTAssertEqual(stream.received.stdout, 500)
    }

    func testAcknowledgementsComeEveryMebibyteOrHalfTheBuffer() throws {
        let stream = CommandStream(stdout: BufferSink(), stderr: BufferSink())
        stream.started(session, job, from: StreamOffsets())
        try stream.output(.stdout, offset: 0, Array(repeating: 0, count: 600_000)[...])
        XCTAssertNil(stream.acknowledgement(complete: false))
        try stream.output(.stderr, offset: 0, Array(repeating: 0, count: 500_000)[...])
        XCTAssertEqual(
            stream.acknowledgement(complete: false),
            .ack(session: "i", job: "1", received: StreamOffsets(stdout: 600_000, stderr: 500_000), complete: false))
        XCTAssertNil(stream.acknowledgement(complete: false))
        XCTAssertNotNil(stream.acknowledgement(complete: true))

        var small = session
        small.maxBuffer = 64 * 1024
        let tight = CommandStream(stdout: BufferSink(), stderr: BufferSink())
        tight.started(small, job, from: StreamOffsets())
        try tight.output(.stdout, offset: 0, Array(repeating: 0, count: 32 * 1024)[...])
        XCTAssertNotNil(tight.acknowledgement(complete: false))

        let keeping = CommandStream(stdout: BufferSink(), stderr: BufferSink(), acknowledges: false)
        keeping.started(session, job, from: StreamOffsets())
        XCTAssertNil(keeping.acknowledgement(complete: true))
    }
}
