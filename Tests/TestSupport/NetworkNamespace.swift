import Foundation
import Glibc

/// A network namespace of the test's own, with only its loopback up: servers started in it are reachable from
/// the test's namespace only through a bridge the test makes (`bridge`), as hosts behind a bastion are.
public final class NetworkNamespace {
    public let name: String
    private var bridges: [RunningProcess] = []

    public init() {
        name = "pss-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let made = shell("ip netns add \(name) && ip netns exec \(name) ip link set lo up")
        precondition(made.status == 0, "cannot make a network namespace: \(made)")
    }

    deinit {
        for bridge in bridges { bridge.signal(SIGKILL) }
        // The bridges' children (one socat per connection, and the one inside the namespace each runs).
        // `[i]p`: the pattern must not match this shell's own command line, or pkill ends it before the delete.
        _ = ProcessRunner.run(
            "/bin/sh", ["-c", "pkill -KILL -f '[i]p netns exec \(name) '; ip netns pids \(name) | xargs -r kill -KILL; ip netns delete \(name)"])
    }

    /// The command line that runs `command` inside the namespace.
    public func prefix(_ command: [String]) -> [String] {
        ["/usr/bin/ip", "netns", "exec", name] + command
    }

    /// Whether something accepts TCP connections on `port` of the namespace's loopback, waiting up to `limit`.
    public func waitForListener(port: Int, limit: Double = 10) -> Bool {
        Processes.waitUntil(limit: limit) {
            ProcessRunner.run("/usr/bin/ip", ["netns", "exec", name, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status == 0
        }
    }

    /// A port on the test's loopback whose connections reach `port` inside the namespace (socat, one process a
    /// connection, each joining the namespace).
    public func bridge(to port: Int) -> Int {
        let outside = freePort()
        let process = try! ProcessRunner.start(
            "/usr/bin/socat",
            ["TCP-LISTEN:\(outside),bind=127.0.0.1,reuseaddr,fork", "EXEC:ip netns exec \(name) socat STDIO TCP\\:127.0.0.1\\:\(port)"])
        bridges.append(process)
        precondition(waitForListener(port: outside), "the bridge did not start")
        return outside
    }

    /// Whether something accepts on `port` of the test's own loopback.
    private func waitForListener(port: Int) -> Bool {
        TestSupport.waitForListener(port: port)
    }
}
