import SessionWire
import XCTest

final class MessageTests: XCTestCase {
    static let record = SessionRecord(
        id: "0f8fad5b-d9cb-469f-a165-70867728950e", name: "web-1", owner: "alice",
        state: .disconnected, heldBy: "c1", createdAt: 1_700_000_000, idleTimeoutSeconds: 7200,
        expiresAt: 1_700_007_200, outputBuffering: .drop, maxBuffer: 1 << 20,
        command: "echo 'hi'\nline two", temporary: true)

    static let job = JobRecord(
        id: "3", name: "nightly", sessionID: record.id, sessionName: "web-1", state: .running,
        exitCode: nil, command: "backup", startedAt: 1_700_000_100, endedAt: 0, hasMoreData: true, isJob: true)
    static let finished = JobRecord(
        id: "4", name: "Job4", sessionID: record.id, sessionName: "web-1", state: .failed,
        exitCode: -2, command: "x", startedAt: 1, endedAt: 2, hasMoreData: false, isJob: false)
    static let kept = {
        var job = finished
        job.keptUntil = 1_700_604_800
        return job
    }()

    private func decodeOne(_ bytes: [UInt8]) throws -> ArraySlice<UInt8> {
        var decoder = FrameDecoder()
        decoder.append(bytes)
        let body = try XCTUnwrap(try decoder.nextFrame())
        XCTAssertNil(try decoder.nextFrame())
        return body
    }

    func testClientMessagesRoundTrip() throws {
        let messages: [ClientMessage] = [
            .hello(version: 7, clientID: "id"), .newSession(name: "n", idleTimeoutSeconds: 60, outputBuffering: .block, maxBuffer: 5, loadsProfile: true),
            .listSessions, .invoke(.init(session: "s", command: "ünï\0code", forwardStdin: true, waitSeconds: 240)),
            .invoke(
                .init(
                    session: "", command: "c", forwardStdin: false, waitSeconds: 0, asJob: true, jobName: "nightly",
                    timeoutSeconds: 90, lock: "backup")),
            .invoke(
                {
                    var invocation = ClientMessage.Invocation(session: "", command: "c", forwardStdin: false, waitSeconds: 0, asJob: true)
                    invocation.idleTimeoutSeconds = 86400
                    invocation.retentionSeconds = 30 * 86400
                    return invocation
                }()),
            .stdin([0, 1, 255]), .stdinEnd, .removeSession("x"), .removeAllSessions,
            .receive(session: "s", job: "", from: nil, follow: true, take: false),
            .receive(session: "s", job: "3", from: StreamOffsets(stdout: 1 << 40, stderr: 7), follow: false, take: true),
            .ack(session: "s", job: "nightly", received: StreamOffsets(stdout: 5, stderr: 1 << 33), complete: true),
            .disconnect(session: "s", idleTimeoutSeconds: 60, outputBuffering: "drop"), .connect(session: "s", force: true),
            .listJobs(session: ""), .stopJob(session: "s", job: "1"), .removeJob(session: "s", job: "J"), .interrupt,
            .enter(session: "s", force: true, size: WindowSize(rows: 50, columns: 132), term: "xterm-256color", keys: "k1"),
            .terminalInput(offset: 1 << 33, [3, 0x1C]),
            .resize(WindowSize(rows: 24, columns: 80)), .leave,
        ]
        for message in messages {
            XCTAssertEqual(try ClientMessage(decoding: try decodeOne(message.encoded())), message)
        }
    }

    func testHostMessagesRoundTrip() throws {
        let messages: [HostMessage] = [
            .hello(version: 1, helper: "h"), .failure(.busy, "busy"), .session(Self.record), .sessions([Self.record, Self.record], more: true),
            .started(Self.record, Self.job, from: StreamOffsets(stdout: 3, stderr: 4)), .dropped(.stdout, from: 1, to: 1 << 35),
            .pending(Self.job), .jobs([Self.job, Self.finished, Self.kept], more: false), .notice("disk full"), .entered(Self.record, keysTaken: 7),
            .terminalOutput([27, 91, 72][...]),
            .left(reason: "exit", closed: true), .job(Self.finished), .failure(.locked, "held"), .output(.stderr, offset: 1 << 40, [1, 2, 3][...]),
            .exited(status: -1, signal: "TERM", shellEnded: true),
            .removed(count: 3),
        ]
        for message in messages {
            XCTAssertEqual(try HostMessage(decoding: try decodeOne(message.encoded())), message)
        }
    }

    /// However many and however long the commands kept, every answer fits a frame: lists are paged, and records
    /// carry at most `CommandText.shownLength` of a command.
    func testLongListsArePagedWithinFrames() throws {
        var job = Self.job
        job.command = CommandText.shown(String(repeating: "x", count: CommandText.maximumLength))
        XCTAssertLessThanOrEqual(job.command.utf8.count, CommandText.shownLength)
        XCTAssertTrue(job.command.hasSuffix("…"))
        let jobs = Array(repeating: job, count: 3000)  // about 12 MiB of records
        let pages = HostMessage.pages(of: jobs)
        XCTAssertGreaterThan(pages.count, 3)
        var decoded: [JobRecord] = []
        for (index, page) in pages.enumerated() {
            let frame = page.encoded()
            XCTAssertLessThanOrEqual(frame.count, WireProtocol.maximumFrame)
            guard case let .jobs(records, more) = try HostMessage(decoding: try decodeOne(frame)) else { return XCTFail() }
            XCTAssertEqual(more, index < pages.count - 1)
            decoded += records
        }
        XCTAssertEqual(decoded, jobs)
        XCTAssertEqual(HostMessage.pages(of: [SessionRecord]()), [.sessions([], more: false)])
        XCTAssertEqual(CommandText.shown("short"), "short")
        let multibyte = CommandText.shown(String(repeating: "é", count: 5000))
        XCTAssertLessThanOrEqual(multibyte.utf8.count, CommandText.shownLength)
    }

    func testFramesSurviveAnySplit() throws {
        let messages: [HostMessage] = (0..<20).map { .output(.stdout, offset: UInt64($0), Array(repeating: UInt8($0), count: $0 * 37)[...]) }
        let stream = messages.flatMap { $0.encoded() }
        var decoder = FrameDecoder()
        var decoded: [HostMessage] = []
        for byte in stream {  // one byte at a time: the worst case of a network that splits reads
            decoder.append([byte])
            while let body = try decoder.nextFrame() { decoded.append(try HostMessage(decoding: body)) }
        }
        XCTAssertEqual(decoded, messages)
    }

    func testGarbageIsRefusedNotMisread() {
        var decoder = FrameDecoder()
        decoder.append(Array("hello, I am not a helper\n".utf8))
        XCTAssertThrowsError(try decoder.nextFrame())  // "hell" as a length is far past the limit
        XCTAssertThrowsError(try HostMessage(decoding: [250, 1, 2]))
        XCTAssertThrowsError(try HostMessage(decoding: [106, 1]))  // truncated
    }

    func testAvailability() {
        var record = Self.record
        record.state = .opened
        record.command = ""
        XCTAssertEqual(record.availability(for: "c1"), .available)
        XCTAssertEqual(record.availability(for: "c2"), .busy, "held by another client")
        record.command = "sleep 1"
        XCTAssertEqual(record.availability(for: "c1"), .busy)
        record.state = .disconnected
        XCTAssertEqual(record.availability(for: "c1"), .none)
    }
}

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(
            SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testIncrementalUpdatesMatchOneShot() {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        var hash = SHA256()
        for chunk in stride(from: 0, to: data.count, by: 999) { hash.update(data[chunk..<min(chunk + 999, data.count)]) }
        XCTAssertEqual(
            hash.finalize(),
            {
                var h = SHA256(); h.update(data); return h.finalize()
            }())
    }
}

final class TextTests: XCTestCase {
    func testQuoting() {
        XCTAssertEqual(ShellQuoting.quote(""), "''")
        XCTAssertEqual(ShellQuoting.quote("plain/path-1.2"), "plain/path-1.2")
        XCTAssertEqual(ShellQuoting.quote("a b"), "'a b'")
        XCTAssertEqual(ShellQuoting.quote("it's"), "'it'\\''s'")
        XCTAssertEqual(ShellQuoting.quote("$HOME"), "'$HOME'")
        XCTAssertEqual(ShellQuoting.quote("a!b"), "'a'\\!'b'", "csh expands ! inside single quotes")
    }

    func testHex() {
        XCTAssertEqual(Hex.string([0x00, 0x0f, 0xa5, 0xff]), "000fa5ff")
        XCTAssertEqual(Hex.string([UInt8]()), "")
    }
}

final class SessionNameTests: XCTestCase {
    func testNames() {
        for good in ["web", "db-1", "a_b.c", "X", String(repeating: "a", count: 64)] {
            XCTAssertNil(SessionName.problem(with: good), good)
        }
        for bad in [
            "", "../x", "/", "a/b", ".hidden", "-opt", "a b", "tab\t", "nl\n", "\u{1b}[31m", "ünï", String(repeating: "a", count: 65),
            String(repeating: "x", count: 1000),
        ] {
            XCTAssertNotNil(SessionName.problem(with: bad), bad.debugDescription)
        }
    }

    func testIDs() {
        XCTAssertTrue(SessionName.isID("0f8fad5b-d9cb-469f-a165-70867728950e"))
        XCTAssertFalse(SessionName.isID("0F8FAD5B-D9CB-469F-A165-70867728950E"))
        XCTAssertFalse(SessionName.isID("web"))
        XCTAssertFalse(SessionName.isID("0f8fad5b-d9cb-469f-a165-70867728950"))
    }
}
