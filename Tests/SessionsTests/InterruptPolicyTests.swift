import Glibc
import Sessions
import XCTest

final class InterruptPolicyTests: XCTestCase {
    func testSignalsInTurn() {
        let cases: [(name: String, signals: [(Int32, Double)], expected: [InterruptPolicy.Action])] = [
            ("one Ctrl-C interrupts", [(SIGINT, 0)], [.interrupt]),
            ("a second within the window detaches", [(SIGINT, 0), (SIGINT, 2.9)], [.interrupt, .detach(signal: SIGINT)]),
            ("a second after the window interrupts again", [(SIGINT, 0), (SIGINT, 3.5)], [.interrupt, .interrupt]),
            (
                "the window runs from the last interrupt", [(SIGINT, 0), (SIGINT, 4), (SIGINT, 6)],
                [.interrupt, .interrupt, .detach(signal: SIGINT)]
            ),
            ("TERM detaches at once", [(SIGTERM, 0)], [.detach(signal: SIGTERM)]),
            ("HUP detaches at once", [(SIGHUP, 10)], [.detach(signal: SIGHUP)]),
            ("TERM after a Ctrl-C detaches as TERM", [(SIGINT, 0), (SIGTERM, 1)], [.interrupt, .detach(signal: SIGTERM)]),
        ]
        for test in cases {
            var policy = InterruptPolicy()
            let actions = test.signals.map { policy.action(for: $0.0, at: 100 + $0.1) }
            XCTAssertEqual(actions, test.expected, test.name)
        }
    }

    /// Watching output (receive): Ctrl-C stops watching, never the command.
    func testWatchingDetachesOnTheFirstCtrlC() {
        var policy = InterruptPolicy(passesInterrupt: false)
        XCTAssertEqual(policy.action(for: SIGINT, at: 100), .detach(signal: SIGINT))
        XCTAssertEqual(policy.action(for: SIGTERM, at: 100), .detach(signal: SIGTERM))
    }
}
