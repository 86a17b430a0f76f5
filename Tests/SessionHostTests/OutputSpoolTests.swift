import Foundation
import Glibc
@testable import SessionHost
import SessionWire
import XCTest

/// The spool's three marks (written, sent, acknowledged), drop buffering, and a command's metadata on disk.
final class OutputSpoolTests: XCTestCase {
    var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "pss-spool-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func spool(with bytes: [UInt8]) throws -> OutputSpool {
        try SessionHostTests.spool(with: bytes, at: directory + "/stdout")
    }

    /// The next range not yet sent, read from the file as the daemon's splice takes it.
    private func nextChunk(of spool: OutputSpool, limit: Int) -> (offset: UInt64, bytes: [UInt8])? {
        guard let (offset, count) = spool.nextRange(limit: limit) else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        XCTAssertEqual(bytes.withUnsafeMutableBytes { pread(spool.file, $0.baseAddress!, count, off_t(offset)) }, count)
        return (offset, bytes)
    }

    func testChunksComeBackByOffsetAndAcknowledgementsCount() throws {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let spool = try spool(with: bytes)
        XCTAssertEqual(spool.written, 10_000)
        XCTAssertEqual(spool.unacknowledged, 10_000)
        var got: [UInt8] = []
        while let (offset, chunk) = nextChunk(of: spool, limit: 3000) {
            XCTAssertEqual(offset, UInt64(got.count))
            got += chunk
        }
        XCTAssertEqual(got, bytes)
        spool.acked = 4000
        XCTAssertEqual(spool.unacknowledged, 6000)
        // A receiver resuming at 9000 gets only the rest.
        spool.sent = 9000
        XCTAssertEqual(nextChunk(of: spool, limit: 5000)?.bytes, Array(bytes[9000...]))
    }

    /// Acknowledged output that was sent gives its disk blocks back; what is not acknowledged stays readable.
    func testAcknowledgedOutputIsReleased() throws {
        let bytes = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let spool = try spool(with: bytes)
        let path = directory + "/stdout"
        func allocated() -> Int { var info = stat(); XCTAssertEqual(stat(path, &info), 0); return Int(info.st_blocks) * 512 }
        XCTAssertGreaterThanOrEqual(allocated(), 4 << 20)

        spool.sent = 3 << 20 + 100
        spool.acked = 3 << 20 + 10
        spool.releaseAcknowledged(beforeFreeing: { _ in })
        XCTAssertLessThanOrEqual(allocated(), (2 << 20) + 8192, "the acknowledged 3 MiB were released, in whole 2 MiB")
        // A daemon started after a crash, from a record saved before that release, starts receivers at the first
        // byte still there, not in the hole.
        let reloaded = OutputSpool(loading: .stdout, path: path, acked: 100, droppedUntil: 0)
        XCTAssertEqual(reloaded.acked, 2 << 20)
        XCTAssertEqual(nextChunk(of: reloaded, limit: 10)?.bytes, Array(bytes[(2 << 20)..<((2 << 20) + 10)]))
        XCTAssertEqual(spool.written, 4 << 20, "offsets stay")
        // Not past what was sent: a cursor behind the acknowledgement (another receiver's) keeps its bytes.
        spool.sent = 3 << 20 + 100
        spool.acked = 4 << 20
        spool.releaseAcknowledged(beforeFreeing: { _ in })
        XCTAssertGreaterThanOrEqual(allocated(), (1 << 20) - 8192)
        XCTAssertEqual(nextChunk(of: spool, limit: 1 << 20)?.bytes, Array(bytes[(3 << 20 + 100)...]))
    }

    func testDropKeepsTheNewestBytesAndSkipsTheRest() throws {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0) }
        let spool = try spool(with: bytes)
        spool.dropOldest(keeping: 2500, beforeFreeing: { _ in })
        XCTAssertEqual(spool.droppedUntil, 7500)
        XCTAssertEqual(spool.unacknowledged, 2500)
        XCTAssertNil(nextChunk(of: spool, limit: 5000), "a cursor in dropped output must be moved first")
        let skipped = try XCTUnwrap(spool.skipDropped())
        XCTAssertEqual(skipped.from, 0)
        XCTAssertEqual(skipped.to, 7500)
        XCTAssertEqual(nextChunk(of: spool, limit: 5000)?.bytes, Array(bytes[7500...]))
        XCTAssertNil(spool.skipDropped())
    }

    func testACommandsMetadataSurvivesItsDaemon() throws {
        let spools = [
            try OutputSpool(stream: .stdout, path: directory + "/stdout", pipe: -1),
            try OutputSpool(stream: .stderr, path: directory + "/stderr", pipe: -1),
        ]
        let run = CommandRun(
            number: 7, directory: directory, command: "make\nall", name: "build", isJob: true, lock: "",
            outputs: spools)
        spools[0].acked = 0
        run.save()
        // Ended while its daemon lived: its status is kept.
        run.result = .exited(status: 3, signal: "", shellEnded: false)
        run.endedAt = 99
        run.retentionSeconds = 3600
        run.save()
        let loaded = try XCTUnwrap(CommandRun(loading: directory, number: 7))
        var expected = JobRecord(
            id: "7", name: "build", sessionID: "i", sessionName: "s", state: .failed, exitCode: 3,
            command: "make\nall", startedAt: run.startedAt, endedAt: 99, hasMoreData: false, isJob: true)
        expected.keptUntil = 99 + 3600  // not received: kept for its retention from its end
        XCTAssertEqual(loaded.record(in: .init(id: "i", name: "s", owner: "o", heldBy: "", createdAt: 0, idleTimeoutSeconds: 60)), expected)
        // Received: kept by its session's idle timeout only, and that too survives the daemon.
        loaded.received = true
        loaded.save()
        let received = try XCTUnwrap(CommandRun(loading: directory, number: 7))
        XCTAssertNil(received.keptUntil)
        // Still running when its daemon died: how it ended is not known.
        run.result = nil
        run.save()
        let orphan = try XCTUnwrap(CommandRun(loading: directory, number: 7))
        XCTAssertTrue(orphan.endUnknown)
        XCTAssertFalse(orphan.isRunning)
    }

    /// A file that takes nothing (a full disk: /dev/full answers every write with ENOSPC): what was read is held,
    /// the pipe is read no further, and `written` stays what the file holds.
    func testOutputTheFileRefusesIsHeldNotLost() throws {
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&ends), 0)
        defer { close(ends[1]) }
        let spool = try OutputSpool(stream: .stdout, path: "/dev/full", pipe: ends[0])
        defer { spool.closeAll() }
        let bytes = [UInt8](repeating: 7, count: 3000)
        XCTAssertEqual(bytes.withUnsafeBytes { write(ends[1], $0.baseAddress!, 1000) }, 1000)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var delivered = 0
        spool.drain(
            using: &buffer,
            deliver: { _, count in
                delivered += count; return true
            })
        XCTAssertTrue(spool.isHolding)
        XCTAssertEqual(spool.written, 0)
        XCTAssertEqual(delivered, 0, "nothing unspooled is sent")
        XCTAssertEqual(spool.writeFailure, String(cString: strerror(ENOSPC)))
        XCTAssertEqual(bytes.withUnsafeBytes { write(ends[1], $0.baseAddress!, 2000) }, 2000)
        XCTAssertEqual(spool.drain(using: &buffer), 0, "the pipe is not read while output is held")
        var available: Int32 = 0
        XCTAssertEqual(ioctl(ends[0], UInt(FIONREAD), &available), 0)
        XCTAssertEqual(available, 2000)
        XCTAssertFalse(spool.retryHeld())
        XCTAssertNil(nextChunk(of: spool, limit: 4096))
    }

    /// A spool file shorter than its record (cut behind the daemon's back) is damaged, said once, never waited on,
    /// and found before a frame announces bytes the file does not have.
    func testSpoolShorterThanRecordedIsDamaged() throws {
        let spool = try spool(with: [UInt8](repeating: 1, count: 10_000))
        XCTAssertNotNil(nextChunk(of: spool, limit: 3000))
        XCTAssertEqual(truncate(directory + "/stdout", 4000), 0)
        XCTAssertNil(nextChunk(of: spool, limit: 3000))
        XCTAssertEqual(spool.damage?.contains("ends at byte 4000 of 10000"), true, "\(spool.damage ?? "")")
        XCTAssertNil(nextChunk(of: spool, limit: 3000))
    }
}
