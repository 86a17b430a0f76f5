import Glibc
import Logging
import SessionWire
import SSHClient

/// A conversation with the user's host daemon: an exec channel running `pss-host relay`, carrying framed
/// messages, either on a connection of this process's own or through the client's connection keeper
/// (`KeptConnection`). Opening it installs (or reinstalls) the helper when the host does not answer as this
/// client's helper.
public final class HostLink {
    let channel: LinkTransport
    private var decoder = FrameDecoder()
    private var diagnostics: [UInt8] = []
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: SSHConnection.readSize, alignment: 16)

    /// `unread`: what came on the channel already, after the daemon's answer to hello.
    init(channel: LinkTransport, unread: [UInt8] = []) {
        self.channel = channel
        decoder.append(unread)
    }

    deinit { buffer.deallocate() }

    /// What the relay writes before any frame, once the shell has started it: everything before it on the channel
    /// (what the user's rc files print) is skipped, and nothing is sent before it (a shell reading its script from
    /// stdin may read ahead, and would swallow it).
    static let readyMarker = Array("pss-host relay ready v".utf8)

    /// When waiting for the other side ends with `SSHError.timedOut`; nil: never.
    var deadline: Deadline?

    /// What is left of `deadline`, for a wait (-1: no limit); throws once it has passed.
    private func remainingTime() throws -> Int32 {
        guard let deadline else { return -1 }
        if deadline.hasPassed { throw SSHError.timedOut(host: "", phase: "waiting for the host's daemon") }
        return deadline.pollTimeout
    }

    /// The answer to this client's hello, not read yet: `open` does not wait for it, the first answer read does.
    private var awaitingHello = false
    /// The last request's answer came whole (nothing bound to the link any more, as far as this side knows).
    private var isAnswered = true

    /// `notify` hears what the user should know once (a host that ends processes at logout, found when installing).
    /// `deadline`: when to give up waiting for the relay and the daemon (for the connection keeper, whose one
    /// thread serves every command on the connection); nil: as long as the connection lives.
    public static func open(
        _ connection: SSHConnection, helper: HelperBinary, state: ClientState, clientID: String, logger: Logger,
        deadline: Deadline? = nil, notify: (String) -> Void = { _ in }
    ) throws -> HostLink {
        var lastProblem = ""
        for attempt in 0..<2 {
            if attempt > 0 {
                logger.debug("helper did not answer (\(lastProblem)); installing it")
                try HelperInstaller(connection: connection, helper: helper, state: state, logger: logger).install(notify: notify)
            }
            // A command every login shell parses alike; the script comes on stdin.
            let link = HostLink(channel: try connection.openExec(HostScripts.command))
            link.deadline = deadline
            do {
                if let version = try link.start(HostScripts.relay(helper), clientID: clientID) {
                    lastProblem = "the helper speaks protocol \(version), this client \(WireProtocol.version)"
                    continue
                }
                return link
            } catch let error as HelperEnded {
                lastProblem = error.description
                // The helper ran and failed for a reason of its own (not a missing or damaged binary): say it.
                if error.status == .exited(HostScripts.refusedStatus) { throw SessionError.helper(error.message) }
            }
        }
        throw SessionError.helper("the helper does not answer after reinstalling it (\(lastProblem))")
    }

    /// A link to the daemon of session configuration `name`, through the system-wide helper the administrator's
    /// `pss config register` installed (never installed from here). The helper lets in the users the configuration
    /// allows, as its runAs user through sudo when it has one; a refusal is a `denied` answer to hello.
    public static func open(
        _ connection: SSHConnection, configuration name: String, clientID: String, deadline: Deadline? = nil
    ) throws -> HostLink {
        let link = HostLink(channel: try connection.openExec(HostScripts.command))
        link.deadline = deadline
        do {
            if let version = try link.start(HostScripts.configurationRelay(name), clientID: clientID) {
                throw SessionError.helper(
                    "the host's system-wide helper (\(HostScripts.systemHelper)) speaks protocol \(version), this client \(WireProtocol.version): an administrator updates it with pss config register"
                )
            }
            return link
        } catch let error as HelperEnded {
            if error.status == .exited(HostScripts.refusedStatus) { throw SessionError.refused(.denied, error.message) }
            throw SessionError.helper("configuration \(name): \(error)")
        }
    }

    /// Sends `script` (which ends by starting a relay), waits for the relay's ready line and says hello; returns
    /// the protocol version the helper speaks when it is not this client's (the link is closed then).
    private func start(_ script: String, clientID: String) throws -> UInt32? {
        try channel.writeAll(Array(script.utf8))
        let version = try readReadyMarker()
        guard version == WireProtocol.version else {
            close()
            return version
        }
        try send(.hello(version: WireProtocol.version, clientID: clientID))
        awaitingHello = true
        return nil
    }

    /// Reads the channel up to the relay's ready line and returns the protocol version it names; what came before
    /// it is dropped, what came after goes to the frame decoder.
    private func readReadyMarker() throws -> UInt32 {
        var preamble: [UInt8] = []
        while true {
            let got = try channel.read(.stdout, into: buffer)
            preamble += UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            if let start = Self.find(Self.readyMarker, in: preamble),
                let newline = preamble[(start + Self.readyMarker.count)...].firstIndex(of: 0x0A)
            {
                let version = UInt32(String(decoding: preamble[(start + Self.readyMarker.count)..<newline], as: UTF8.self)) ?? 0
                decoder.append(preamble[(newline + 1)...])
                return version
            }
            if preamble.count > 1 << 20 { throw SessionError.helper("the host printed a megabyte before the helper started") }
            guard got == 0 else { continue }
            let errors = try channel.read(.stderr, into: buffer)
            if errors > 0 { diagnostics.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<errors])); continue }
            if channel.isAtEnd { throw try ended() }
            _ = try channel.wait(extra: [], timeout: try remainingTime())
        }
    }

    /// The channel ended: how the helper (or the shell before it) ended, with what it said on stderr.
    private func ended() throws -> HelperEnded {
        let status = try channel.close()
        let text = String(decoding: diagnostics, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return HelperEnded(status: status, message: text.hasPrefix("pss-host: ") ? String(text.dropFirst(10)) : text)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// The keeper's side of handing a link over: the channel, once the daemon has answered hello, and what came on
    /// it after that answer; this link is not used afterwards.
    func handOver() throws -> (channel: SSHChannel, unread: [UInt8]) {
        try takeHello()
        guard let channel = channel as? SSHChannel else { throw SessionError.helper("only a channel of this process's own can be handed over") }
        return (channel, decoder.unread)
    }

    /// Takes in what the channel holds now, without waiting; throws when it has ended (a kept spare link whose
    /// relay went away).
    func takeAvailable() throws {
        let got = try channel.read(.stdout, into: buffer)
        if got > 0 { decoder.append(UnsafeRawBufferPointer(rebasing: buffer[0..<got])) }
        let errors = try channel.read(.stderr, into: buffer)
        if errors > 0 { diagnostics.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<errors])) }
        if got == 0, errors == 0, channel.isAtEnd { throw try ended() }
    }

    /// Reads the daemon's answer to this client's hello, once.
    private func takeHello() throws {
        guard awaitingHello else { return }
        awaitingHello = false
        while true {
            if let body = try decoder.nextFrame() {
                switch try HostMessage(decoding: body) {
                case .hello: return
                case let .failure(kind, message):
                    // A configuration's gate says no as a refusal (254); anything else is the helper's failure.
                    throw kind == .denied ? SessionError.refused(kind, message) : SessionError.helper(message)
                default: throw SessionError.helper("unexpected answer to hello")
                }
            }
            try fill(watching: [])
        }
    }

    /// The helper's channel ended before answering.
    struct HelperEnded: Error, CustomStringConvertible {
        var status: ExitStatus
        var message: String
        var description: String { "helper exited with \(status)\(message.isEmpty ? "" : ": \(message)")" }
    }

    /// The user left the command running (`InterruptPolicy`).
    struct Detached: Error {
        var signal: Int32
    }

    func send(_ message: ClientMessage) throws {
        try channel.writeAll(message.encoded())
    }

    /// The next message from the daemon, waiting for it.
    func receive() throws -> HostMessage {
        try takeHello()
        while true {
            if let body = try decoder.nextFrame() { return try HostMessage(decoding: body) }
            try fill(watching: [])
        }
    }

    /// The next message already received, if a whole one is.
    func nextBufferedMessage() throws -> HostMessage? {
        try decoder.nextFrame().map { try HostMessage(decoding: $0) }
    }

    /// Reads what the channel has (stdout into the frame decoder, stderr kept as diagnostics), or waits.
    /// Returns the `extra` descriptors' readiness.
    @discardableResult
    func fill(watching extra: [pollfd], timeout: Int32 = -1) throws -> [pollfd] {
        let timeout = timeout >= 0 ? timeout : try remainingTime()
        let got = try channel.read(.stdout, into: buffer)
        if got > 0 { decoder.append(UnsafeRawBufferPointer(rebasing: buffer[0..<got])) }
        let errors = try channel.read(.stderr, into: buffer)
        if errors > 0 { diagnostics.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<errors])) }
        if got > 0 || errors > 0 { return extra }
        if channel.isAtEnd { throw try ended() }
        return try channel.wait(extra: extra, timeout: timeout)
    }

    /// Sends a request and returns its answer; a failure answer is thrown as `SessionError.refused`.
    public func request(_ message: ClientMessage) throws -> HostMessage {
        isAnswered = false
        try send(message)
        let answer = try receive()
        isAnswered = !Self.isPage(answer)
        if case let .failure(kind, text) = answer { throw SessionError.refused(kind, text) }
        return answer
    }

    /// A page of a list with more to come.
    private static func isPage(_ answer: HostMessage) -> Bool {
        switch answer {
        case .sessions(_, more: true), .jobs(_, more: true), .configurations(_, more: true): return true
        default: return false
        }
    }

    /// Sends a request whose answer is a list (`sessions`, `jobs`, `configurations`) and gathers its frames.
    public func requestList(_ message: ClientMessage) throws -> [HostMessage] {
        var answers = [try request(message)]
        while true {
            switch answers[answers.count - 1] {
            case .sessions(_, more: true), .jobs(_, more: true), .configurations(_, more: true):
                answers.append(try receive())
                isAnswered = !Self.isPage(answers[answers.count - 1])
            default: return answers
            }
        }
    }

    /// Sends `request` (an invoke or a receive) and streams the command's output into `stream`: stdin from
    /// `stdin` once the command has started, acknowledgements as output arrives, until the command's end (or, for
    /// a receive that does not follow, until what is there has come).
    public func run(_ request: ClientMessage, into stream: CommandStream, stdin: Int32?) throws -> CommandStream.End {
        if let control = stream.control, control.stopsStarting { throw SessionError.notStarted(signal: SIGINT) }
        isAnswered = false
        try send(request)
        try takeHello()
        var input = stdin
        var unsent: [UInt8] = []  // frames the channel has not taken yet (stdin, acknowledgements)
        var started = false
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let signals = stream.interrupts == nil ? nil : StreamSignals.shared
        defer { signals?.disarm() }
        while true {
            while let body = try decoder.nextFrame() {
                switch try HostMessage(decoding: body) {
                case let .started(session, job, from):
                    stream.started(session, job, from: from)
                    started = true
                    signals?.arm()
                case let .output(kind, offset, bytes):
                    try stream.output(kind, offset: offset, bytes)
                    if let ack = stream.acknowledgement(complete: false) { unsent += ack.encoded() }
                case let .dropped(kind, from, to):
                    stream.dropped(kind, from: from, to: to)
                case let .exited(status, signal, shellEnded):
                    guard started else { throw SessionError.helper("the host ended a command it had not started") }
                    try channel.writeAll(unsent + (stream.acknowledgement(complete: true)?.encoded() ?? []))
                    isAnswered = true
                    return .exited(status: status, signal: signal, shellEnded: shellEnded)
                case let .pending(job):
                    try channel.writeAll(unsent + (stream.acknowledgement(complete: false, now: true)?.encoded() ?? []))
                    isAnswered = true
                    return .pending(job)
                case let .notice(text):
                    stream.notify(text)
                case let .terminalOutput(bytes):
                    try bytes.withUnsafeBytes { try stream.terminalOutput?.write($0) }
                case let .failure(kind, message):
                    throw SessionError.refused(kind, message)
                default:
                    throw SessionError.helper("unexpected message during a command")
                }
            }
            // Stdin never blocks this loop: while the command is not reading, its output must still be read.
            if !unsent.isEmpty {
                unsent.removeFirst(try unsent.withUnsafeBytes { try channel.write($0) })
            }
            var watched: [pollfd] = []
            if let signals, started { watched.append(pollfd(fd: signals.descriptor, events: Int16(POLLIN), revents: 0)) }
            if let control = stream.control, started { watched.append(pollfd(fd: control.descriptor, events: Int16(POLLIN), revents: 0)) }
            if started, unsent.isEmpty, let fd = input { watched.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if started, unsent.isEmpty, let fd = stream.terminalInput { watched.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let ready = try fill(watching: watched)
            if let fd = stream.terminalInput, ready.contains(where: { $0.fd == fd && $0.revents != 0 }) {
                let count = read(fd, &chunk, 4096)
                if count > 0 {
                    var keys = Array(chunk[0..<count])
                    // Ctrl-C, typed in raw mode, is a byte: taken as the signal it would have been.
                    let interrupts = keys.filter { $0 == 0x03 }.count
                    keys.removeAll { $0 == 0x03 }
                    if !keys.isEmpty { unsent += ClientMessage.terminalInput(offset: 0, keys).encoded() }
                    for _ in 0..<interrupts { StreamSignals.shared.raise(SIGINT) }
                } else if count == 0 {
                    stream.terminalInput = nil
                }
            }
            var actions: [InterruptPolicy.Action] = []
            if let signals, ready.contains(where: { $0.fd == signals.descriptor && $0.revents != 0 }) {
                actions += signals.take().compactMap { stream.interrupts?.action(for: $0, at: Double(Deadline.now.nanoseconds) / 1e9) }
            }
            if let control = stream.control, ready.contains(where: { $0.fd == control.descriptor && $0.revents != 0 }) {
                actions += control.take()
            }
            for action in actions {
                switch action {
                case .interrupt:
                    unsent += ClientMessage.interrupt.encoded()
                case let .detach(signal):
                    // What arrived is acknowledged, so a receive from anywhere starts after it.
                    try channel.writeAll(unsent + (stream.acknowledgement(complete: false, now: true)?.encoded() ?? []))
                    throw Detached(signal: signal)
                }
            }
            if let fd = input, let readiness = ready.first(where: { $0.fd == fd }), readiness.revents != 0 {
                let count = read(fd, &chunk, chunk.count)
                if count > 0 {
                    unsent += ClientMessage.stdin(Array(chunk[0..<count])).encoded()
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    unsent += ClientMessage.stdinEnd.encoded()
                    input = nil
                }
            }
        }
    }

    /// Ends the link. Through the connection keeper, a link whose last request was answered is released first,
    /// so that the keeper gives it to the next command.
    public func close() {
        if isAnswered, channel is KeeperSocket, (try? send(.release)) != nil {
            let deadline = Deadline.after(seconds: 2)
            while !deadline.hasPassed, (try? decoder.nextFrame()) == nil {
                guard (try? fill(watching: [], timeout: deadline.pollTimeout)) != nil else { break }
            }
        }
        _ = channel.sendEOF()
        _ = try? channel.close()
    }
}
