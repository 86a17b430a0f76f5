import Glibc
import SessionWire

/// `pss-host status`: whether the user's daemon runs, which helper it runs and how many sessions it holds, as
/// `key=value` lines for `pss doctor`. It never starts a daemon: it asks the running one, over a socket pair handed
/// over as a relay hands over its channel.
public enum DaemonStatus {
    public static func run(paths: HostPaths) -> Int32 {
        guard let socket = try? Relay.connect(paths.socket) else {
            print("daemon=stopped")
            return 0
        }
        defer { close(socket) }
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0,
            DescriptorPassing.send([pair[1], pair[1]], words: [], over: socket)
        else {
            print("daemon=unreachable")
            return 0
        }
        close(pair[1])
        defer { close(pair[0]) }
        let request =
            ClientMessage.hello(version: WireProtocol.version, clientID: "pss-host-status").encoded()
            + ClientMessage.listSessions.encoded()
        guard Posix.writeAll(pair[0], request) else {
            print("daemon=unreachable")
            return 0
        }
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var sessions = 0
        var broken = 0
        while true {
            var ready = pollfd(fd: pair[0], events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 5000) > 0 else { print("daemon=unresponsive"); return 0 }
            let count = read(pair[0], &buffer, buffer.count)
            guard count > 0 else { print("daemon=unreachable"); return 0 }
            decoder.append(buffer[0..<count])
            while let body = try? decoder.nextFrame() {
                switch try? HostMessage(decoding: body) {
                case let .hello(version, helper)?:
                    print("daemon=running")
                    print("daemon_protocol=\(version)")
                    print("daemon_helper=\(helper)")
                case let .sessions(records, more)?:
                    sessions += records.count
                    broken += records.filter { $0.state == .broken }.count
                    if !more {
                        print("sessions=\(sessions)")
                        print("broken=\(broken)")
                        return 0
                    }
                default:
                    print("daemon=unexpected")
                    return 0
                }
            }
        }
    }
}
