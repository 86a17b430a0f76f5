import Sessions
import XCTest

/// How a fan-out's output is cut into prefixed lines and grouped, and how many targets run at once.
final class FanOutOutputTests: XCTestCase {
    func testLinesArePrefixedWhole() throws {
        let cases: [(chunks: [String], emitted: [String])] = [
            (["one\ntwo\n"], ["a: one\na: two\n"]),
            (["on", "e\ntw", "o\n"], ["a: one\n", "a: two\n"]),
            (["no newline"], ["a: no newline\n"]),  // finish() ends it
            (["\n\n"], ["a: \na: \n"]),
            ([""], []),
        ]
        for (chunks, emitted) in cases {
            var got: [String] = []
            let sink = PrefixedLineSink(prefix: "a: ") { got.append(String(decoding: $0, as: UTF8.self)) }
            for chunk in chunks { try Array(chunk.utf8).withUnsafeBytes { try sink.write($0) } }
            try sink.finish()
            XCTAssertEqual(got, emitted, "\(chunks)")
        }
    }

    /// On a terminal, a host cannot move the cursor over its own prefix to print another target's.
    func testControlsAreEscapedForATerminal() throws {
        var got: [String] = []
        let sink = PrefixedLineSink(prefix: "a: ", escapesControls: true) { got.append(String(decoding: $0, as: UTF8.self)) }
        try Array("x\rb: forged\u{1B}[K\tok\u{9B}2J\n".utf8).withUnsafeBytes { try sink.write($0) }
        XCTAssertEqual(got, ["a: x\\x0db: forged\\x1b[K\tok\\u{9b}2J\n"])
    }

    func testAnEndlessLineIsCutAtTheLimit() throws {
        var got: [[UInt8]] = []
        let sink = PrefixedLineSink(prefix: "a: ") { got.append($0) }
        try [UInt8](repeating: 0x41, count: PrefixedLineSink.longestLine + 10).withUnsafeBytes { try sink.write($0) }
        XCTAssertEqual(got.count, 1)
        XCTAssertEqual(got[0].count, 3 + PrefixedLineSink.longestLine + 1)
        try sink.finish()
        XCTAssertEqual(got.last, Array("a: AAAAAAAAAA\n".utf8))

        // A line exactly at the limit, then its newline: one line, no empty one after it.
        got = []
        try [UInt8](repeating: 0x41, count: PrefixedLineSink.longestLine).withUnsafeBytes { try sink.write($0) }
        try [UInt8]([0x0A, 0x42, 0x0A]).withUnsafeBytes { try sink.write($0) }
        try sink.finish()
        XCTAssertEqual(got.count, 2)
        XCTAssertEqual(got.last, Array("a: B\n".utf8))
    }

    func testGroupsByIdenticalOutput() {
        let groups = OutputGroup.grouping([
            ("web01", Array("up\n".utf8)), ("web02", Array("down\n".utf8)), ("web03", Array("up\n".utf8)),
            ("web04", []), ("web07", Array("up\n".utf8)),
        ])
        XCTAssertEqual(groups.map(\.targets), ["web[01,03,07]", "web02"])
        XCTAssertEqual(groups.map(\.count), [3, 1])
        XCTAssertEqual(String(decoding: groups[0].text, as: UTF8.self), "-----------------\nweb[01,03,07] (3)\n-----------------\nup\n")
    }

    /// Each body records how many run at once: never more than the throttle, and that many when there is work.
    func testThrottle() {
        for (count, throttle, most) in [(10, 3, 3), (2, 32, 2), (5, 1, 1), (0, 4, 0)] {
            let lock = Lock()
            var running = 0, seen = 0, done = Set<Int>()
            FanOut.forEach(count, throttle: throttle) { index in
                lock.withLock {
                    running += 1
                    seen = max(seen, running)
                }
                // Hold the slot until every thread that can start has started (or a moment has passed).
                var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
                nanosleep(&pause, nil)
                lock.withLock {
                    running -= 1
                    done.insert(index)
                }
            }
            XCTAssertEqual(done, Set(0..<count), "every index once")
            XCTAssertLessThanOrEqual(seen, most, "count \(count), throttle \(throttle)")
        }
    }
}
