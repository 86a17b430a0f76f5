import SessionWire
import SSHClient
import XCTest

@testable import Sessions

/// The kept connection's small rule sets: which links the keeper gives again (the frames it follows), and the
/// request commands send it.
final class KeptConnectionUnitTests: XCTestCase {
    private func frames(_ messages: [[UInt8]]) -> [UInt8] { messages.flatMap { $0 } }

    /// Each case: what went to the daemon, what came back (in chunks as the pump moved them), whether the link may
    /// serve the next command.
    func testOnlyACleanReleaseLeavesTheLinkReusable() {
        let release = ClientMessage.release.encoded()
        let released = HostMessage.released.encoded()
        let invoke = ClientMessage.listSessions.encoded()
        let answer = HostMessage.sessions([], more: false).encoded()
        let output = HostMessage.output(.stdout, offset: 0, Array(repeating: 7, count: 70_000)[...]).encoded()
        let cases: [(name: String, toDaemon: [UInt8], toClient: [UInt8], chunk: Int, reusable: Bool)] = [
            ("request, answer, release, released", frames([invoke, release]), frames([answer, released]), 1 << 20, true),
            ("the same a byte at a time", frames([invoke, release]), frames([answer, released]), 1, true),
            ("big output in odd chunks, then released", frames([release]), frames([output, released]), 4093, true),
            ("no release", frames([invoke]), frames([answer]), 1 << 20, false),
            ("release refused", frames([release]), frames([HostMessage.failure(.busy, "in use").encoded()]), 1 << 20, false),
            ("something after released", frames([release]), frames([released, answer]), 1 << 20, false),
            ("a frame cut short after released", frames([release]), frames([released]) + Array(answer.prefix(6)), 1 << 20, false),
            ("the client sent more after release", frames([release, invoke]), frames([released]), 1 << 20, false),
            ("a release cut short", frames([invoke]) + Array(release.prefix(3)), frames([answer, released]), 1 << 20, false),
            ("nothing at all", [], [], 1 << 20, false),
        ]
        for item in cases {
            let watcher = LinkFrames()
            for (bytes, feed) in [(item.toDaemon, watcher.pumped(toChannel:)), (item.toClient, watcher.pumped(toDescriptor:))] {
                var start = 0
                while start < bytes.count {
                    let end = min(bytes.count, start + item.chunk)
                    bytes[start..<end].withUnsafeBytes { feed($0) }
                    start = end
                }
            }
            XCTAssertEqual(watcher.channelIsReusable, item.reusable, item.name)
        }
    }

    func testTheRequestSurvivesTheTripAndBadOnesAreRefused() {
        let state = ClientState(environment: ["PSS_CLIENT_DIR": "/tmp/pss-unit-client"])
        var keeping = ConnectionKeeping()
        keeping.linger = 30
        let kept = KeptConnection(host: "deploy@web1:2222", arguments: ["-F", "/etc/x", "-o", "User=a b"], keeping: keeping, state: state)
        let back = KeptConnection(decoding: kept.encodedRequest(), state: state)
        XCTAssertEqual(back?.host, "deploy@web1:2222")
        XCTAssertEqual(back?.arguments, ["-F", "/etc/x", "-o", "User=a b"])
        XCTAssertEqual(back?.keeping.linger, 30)
        XCTAssertEqual(back?.socketPath, kept.socketPath)
        XCTAssertTrue(kept.socketPath.hasPrefix("/tmp/pss-unit-client/keep/"))
        keeping.linger = nil
        let forever = KeptConnection(decoding: KeptConnection(host: "h", arguments: [], keeping: keeping, state: state).encodedRequest(), state: state)
        XCTAssertNotNil(forever)
        XCTAssertNil(forever?.keeping.linger)
        // Other options, another connection; the same options, the same one.
        XCTAssertNotEqual(kept.socketPath, KeptConnection(host: "deploy@web1:2222", arguments: [], keeping: keeping, state: state).socketPath)
        for bad in [
            "", "keep 2\u{0}h\u{0}/s\u{0}5", "keep 1\u{0}-oProxyCommand=x\u{0}/s\u{0}5", "keep 1\u{0}h\u{0}relative\u{0}5", "keep 1\u{0}h\u{0}/s\u{0}-1",
        ] {
            XCTAssertNil(KeptConnection(decoding: Array(bad.utf8), state: state), bad.debugDescription)
        }
    }
}
