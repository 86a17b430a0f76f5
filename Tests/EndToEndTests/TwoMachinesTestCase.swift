import TestSupport
import XCTest

/// The base of the end-to-end classes where one user works from two machines, a laptop and a desktop, on one
/// sshd that both reach as "h1": made when a class starts, its sessions removed and all let go when it is done.
/// Each subclass has its own, kept by its type.
class TwoMachinesTestCase: XCTestCase {
    struct Machines {
        let server: SSHServer
        let laptop: ClientMachine
        let desktop: ClientMachine
    }

    nonisolated(unsafe) private static var machines: [ObjectIdentifier: Machines] = [:]

    override class func setUp() {
        super.setUp()
        let server = SSHServer()
        machines[ObjectIdentifier(self)] = Machines(
            server: server, laptop: ClientMachine(servers: ["h1": server]), desktop: ClientMachine(servers: ["h1": server]))
    }

    override class func tearDown() {
        if let laptop = machines[ObjectIdentifier(self)]?.laptop { _ = laptop.pss(["remove", "--host", "h1", "--all"]) }
        machines[ObjectIdentifier(self)] = nil
        super.tearDown()
    }

    class var server: SSHServer { machines[ObjectIdentifier(self)]!.server }
    var laptop: ClientMachine { Self.machines[ObjectIdentifier(type(of: self))]!.laptop }
    var desktop: ClientMachine { Self.machines[ObjectIdentifier(type(of: self))]!.desktop }
    var server: SSHServer { type(of: self).server }
}
