import Glibc
import Sessions
import SessionWire
import SSHClient

/// `pss enter` in a restricted configuration's session: it has no shell and no terminal, so pss gives a line
/// prompt, and each line is invoked in the session, where the host checks it by the configuration's rules (the
/// client checks nothing: a refused line is the host's answer, shown, and the prompt goes on). `exit` or Ctrl-D
/// leaves; a temporary session (`pss enter HOST`) is removed then.
struct LinePrompt {
    let client: SessionClient
    let host: String
    let session: SessionRecord

    func run() throws {
        let shown = "\(host)/\(session.name)"
        Diagnostics.print(
            "\(shown) is a session of the restricted configuration \(session.configuration): each line runs one allowed command, no shell; exit or Ctrl-D leaves"
        )
        while true {
            Terminal.write("\(session.configuration)> ", to: STDOUT_FILENO)
            guard let line = readLine(strippingNewline: true) else {
                Terminal.write("\n", to: STDOUT_FILENO)
                break
            }
            let command = line.trimmingCharacters(in: [" "])
            if command.isEmpty { continue }
            if command == "exit" { break }
            let stream = CommandStream(stdout: FileDescriptorSink(descriptor: STDOUT_FILENO), stderr: FileDescriptorSink(descriptor: STDERR_FILENO))
            let request = ClientMessage.invoke(.init(session: session.id, command: line, forwardStdin: false, waitSeconds: 0))
            do {
                _ = try client.stream(request, on: host, into: stream, stdin: nil, reconnectTimeout: 0, notify: { Diagnostics.print($0) })
            } catch {
                Diagnostics.print(CommandFailure.from(error).description)
            }
        }
        if session.temporary {
            _ = try? client.withLink(host) { try $0.request(.removeSession(session.id)) }
            Diagnostics.print("left \(shown); the temporary session is closed")
        } else {
            Diagnostics.print("left \(shown); it stays open: pss enter \(shown)")
        }
    }
}
