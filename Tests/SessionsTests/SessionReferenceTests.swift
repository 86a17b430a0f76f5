import Sessions
import XCTest

final class SessionReferenceTests: XCTestCase {
    let known = [
        ClientState.KnownSession(host: "web1", id: "0f8fad5b-d9cb-469f-a165-70867728950e", name: "deploy"),
        ClientState.KnownSession(host: "web2", id: "1f8fad5b-d9cb-469f-a165-70867728950e", name: "shared"),
        ClientState.KnownSession(host: "web3", id: "2f8fad5b-d9cb-469f-a165-70867728950e", name: "shared"),
    ]

    func testHostAndName() throws {
        XCTAssertEqual(try SessionReference(parsing: "alice@db:2222/s1", known: []), SessionReference(host: "alice@db:2222", session: "s1"))
        XCTAssertEqual(try SessionReference(parsing: "[::1]:22/s1", known: []), SessionReference(host: "[::1]:22", session: "s1"))
        XCTAssertEqual(
            try SessionReference(parsing: "db/0f8fad5b-d9cb-469f-a165-70867728950e", known: []).session,
            "0f8fad5b-d9cb-469f-a165-70867728950e")
    }

    func testBareNameFromTheCache() throws {
        XCTAssertEqual(try SessionReference(parsing: "deploy", known: known), SessionReference(host: "web1", session: "deploy"))
        XCTAssertThrowsError(try SessionReference(parsing: "shared", known: known)) { error in
            guard case .usage = error as? SessionError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try SessionReference(parsing: "unknown", known: known)) { error in
            guard case .refused = error as? SessionError else { return XCTFail("\(error)") }
        }
    }

    func testHostileInput() {
        for text in ["web1/../x", "web1/", "/x", "web1/a b", "-o/x", "web1/\u{7}"] {
            XCTAssertThrowsError(try SessionReference(parsing: text, known: known), text.debugDescription)
        }
    }
}
