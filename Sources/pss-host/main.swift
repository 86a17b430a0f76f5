import Glibc
import SessionHost
import SessionWire

// pss-host: the helper pss uploads to each server. The Swift runtime and libstdc++ are linked in and Foundation is
// kept out, so it runs on a server with nothing but glibc.
//
//   pss-host relay     connect this SSH channel to the user's daemon (start it if needed)
//   pss-host daemon    the per-user daemon (started by relay)
//   pss-host status    whether the daemon runs, and what it holds (for pss doctor; starts nothing)
//   pss-host version   print the protocol version
//   pss-host session NAME, runas NAME    the way into a session configuration's sessions (ConfigurationGate)
//   pss-host locked NAME                 sshd's ForceCommand for a user locked to NAME (ConfigurationGate)
//   pss-host daemon --configuration NAME the daemon of a configuration's sessions

let arguments = CommandLine.arguments
let paths = HostPaths()
let helperPath = (try? readLink("/proc/self/exe")) ?? arguments.first ?? "pss-host"

func readLink(_ path: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count > 0 else { throw HostError.daemon("readlink \(path)") }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func fail(_ message: String) -> Never {
    let line = "pss-host: \(message)\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(70)
}

// A peer gone (the SSH channel, a daemon ending) is an error each command reports, never a signal that kills it
// (children are started with every signal at its default).
signal(SIGPIPE, SIG_IGN)

switch arguments.dropFirst().first {
case "relay":
    do { exit(try Relay.run(paths: paths, helperPath: helperPath)) } catch { fail("\(error)") }
case "daemon":
    do {
        if arguments.count == 4, arguments[2] == "--configuration" {
            let configuration = try ConfigurationGate.load(arguments[3])
            try HostDaemon(paths: ConfigurationGate.paths(for: configuration), helperIdentity: helperPath, configuration: configuration).run()
        } else {
            try HostDaemon(paths: paths, helperIdentity: helperPath).run()
        }
        exit(0)
    } catch {
        fail("\(error)")
    }
case "session" where arguments.count == 3, "runas" where arguments.count == 3:
    exit(ConfigurationGate.run(arguments[2], underSudo: arguments[1] == "runas"))
case "locked" where arguments.count == 3:
    exit(ConfigurationGate.runLocked(arguments[2]))
case "status":
    exit(DaemonStatus.run(paths: paths))
case "version":
    print("pss-host protocol \(WireProtocol.version)")
default:
    fail("usage: pss-host relay|daemon|status|version|session NAME")
}
