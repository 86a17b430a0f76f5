import TestSupport
import XCTest

/// The base of the end-to-end classes that share one sshd and one client reaching it as "h1" (`HostFixture`):
/// made when a class starts and let go when it is done. Each subclass has its own, kept by its type, so no state
/// passes from one class to the next.
class HostFixtureTestCase: XCTestCase {
    nonisolated(unsafe) private static var fixtures: [ObjectIdentifier: HostFixture] = [:]

    override class func setUp() {
        super.setUp()
        fixtures[ObjectIdentifier(self)] = HostFixture()
    }

    override class func tearDown() {
        fixtures[ObjectIdentifier(self)] = nil
        super.tearDown()
    }

    class var fixture: HostFixture { fixtures[ObjectIdentifier(self)]! }
    var client: ClientMachine { type(of: self).fixture.client }
    var server: SSHServer { type(of: self).fixture.server }
}
