import ArgumentParser
import Foundation
import Glibc
import Logging
import Sessions
import SSHClient

/// `pss _keep`: the client's connection keeper (`ConnectionKeeper`), started by commands that want a connection
/// kept, its first request on stdin. Not for users: hidden.
struct KeepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_keep",
        abstract: "Keep this client's connections to hosts for its commands (started by pss itself).",
        shouldDisplay: false
    )

    func run() throws {
        ConnectionKeeper.detach()
        // Written before this process started: there at once, as a control socket's request.
        let request = ConnectionKeeper.readAll(0, timeout: 5000) ?? []
        // Nothing of the command that started it: not its directory, not its descriptors (a pipe's end held for
        // the linger would keep its reader waiting). Room for a descriptor per kept connection and link.
        if let directory = ProcessInfo.processInfo.environment["PSS_CLIENT_DIR"], !directory.isEmpty, !directory.hasPrefix("/") {
            setenv("PSS_CLIENT_DIR", FileManager.default.currentDirectoryPath + "/" + directory, 1)
        }
        chdir("/")
        let inherited = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        for fd in inherited where fd > 2 { close(fd) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let state = ClientState()
        var logger = Logger(label: "pss-keeper")
        logger.logLevel = .info
        // What the keeper has to say goes to a log beside its sockets (its stderr is /dev/null).
        let logPath = state.keeperDirectory + "/log"
        var info = stat()
        let restart = stat(logPath, &info) == 0 && info.st_size > 1 << 20 ? O_TRUNC : 0
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | restart, 0o600)
        if log >= 0 {
            dup2(log, 2)
            close(log)
        }
        let keeper = try ConnectionKeeper(state: state, helper: HelperBinary.locate(state: state), logger: logger) { kept in
            let options = try ConnectionOptions.parse(kept.arguments)
            return try options.makeConnector(prompting: false).connect(HostSpec(parsing: kept.host))
        }
        keeper.run(first: request)
    }
}
