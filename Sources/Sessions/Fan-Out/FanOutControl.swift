import Glibc
import SSHClient

/// Ctrl-C, SIGTERM and SIGHUP during a fan-out, for every target at once, as on one target: the first Ctrl-C sends
/// SIGINT to every remote command running and starts no more targets; a second within 3 s, or SIGTERM or SIGHUP,
/// leaves the commands running (each session Disconnected, for `receive`) and ends pss. A thread watches the
/// signals (`StreamSignals`) and tells each target's link through a pipe of its own (`StreamControl`).
public final class FanOutControl: @unchecked Sendable {
    public enum Event: Equatable {
        /// SIGINT was passed to `running` commands.
        case interrupted(running: Int)
        /// pss leaves `running` commands running, as if `signal` had ended it.
        case detached(signal: Int32, running: Int)
    }

    private let lock = Lock()
    private var policy = InterruptPolicy()
    private var controls: [ObjectIdentifier: StreamControl] = [:]
    private var interrupted = false
    private var detachSignal: Int32?
    private let stop: (read: Int32, write: Int32)
    private var watcher: pthread_t?

    /// No more targets start (a Ctrl-C was pressed).
    public var stopsStarting: Bool { lock.withLock { interrupted || detachSignal != nil } }
    /// The signal pss detached on, if it did.
    public var detachedBy: Int32? { lock.withLock { detachSignal } }

    /// Takes the signals over and watches them until `finish`; `report` hears what was done, on the watcher's thread.
    public init(report: @escaping @Sendable (Event) -> Void) throws {
        stop = try LocalPipe.make()
        StreamSignals.shared.arm()
        watcher = JoinableThread.start(stackSize: 256 << 10) { [self] in watch(report) }
    }

    /// Gives the signals back and ends the watcher.
    public func finish() {
        var byte: UInt8 = 0
        _ = write(stop.write, &byte, 1)
        if let watcher { pthread_join(watcher, nil) }
        watcher = nil
        StreamSignals.shared.disarm()
        close(stop.read); close(stop.write)
    }

    /// A control for one target's stream, told of every signal from now until `release`. One made after a Ctrl-C
    /// starts nothing.
    public func register() throws -> StreamControl {
        let control = try StreamControl()
        lock.withLock {
            controls[ObjectIdentifier(control)] = control
            if interrupted || detachSignal != nil { control.send(.detach(signal: detachSignal ?? SIGINT)) }
        }
        return control
    }

    public func release(_ control: StreamControl) {
        _ = lock.withLock { controls.removeValue(forKey: ObjectIdentifier(control)) }
        control.close()
    }

    /// How long pss waits, once it detached, for targets still connecting (a host that does not answer): then it
    /// leaves without them.
    static let detachGrace: Int32 = 5000

    private func watch(_ report: @Sendable (Event) -> Void) {
        while true {
            var watched = [
                pollfd(fd: StreamSignals.shared.descriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stop.read, events: Int16(POLLIN), revents: 0),
            ]
            let detached = detachedBy
            let ready = poll(&watched, 2, detached == nil ? -1 : Self.detachGrace)
            guard ready >= 0 || errno == EINTR else { return }
            if watched[1].revents != 0 { return }
            if ready == 0, let detached {
                let line: StaticString = "pss: targets still connecting were left; pss get --host HOST lists the sessions left running\n"
                _ = write(STDERR_FILENO, line.utf8Start, line.utf8CodeUnitCount)
                _exit(128 + detached)
            }
            guard watched[0].revents != 0 else { continue }
            for signal in StreamSignals.shared.take() {
                let event = lock.withLock { () -> Event? in
                    guard detachSignal == nil else { return nil }
                    let action = policy.action(for: signal, at: Double(Deadline.now.nanoseconds) / 1e9)
                    switch action {
                    case .interrupt:
                        interrupted = true
                        controls.values.forEach { $0.send(.interrupt) }
                        return .interrupted(running: controls.count)
                    case let .detach(signal):
                        detachSignal = signal
                        controls.values.forEach { $0.send(.detach(signal: signal)) }
                        return .detached(signal: signal, running: controls.count)
                    }
                }
                if let event { report(event) }
            }
        }
    }
}

/// What a link is told while its command streams, by someone other than its own thread (a fan-out's signals): a
/// pipe whose bytes the link reads in its poll loop.
public final class StreamControl: @unchecked Sendable {
    let descriptor: Int32
    private let writeEnd: Int32
    private let lock = Lock()
    private var told = false

    /// Whether anything was sent: a command not started yet is then not started.
    var stopsStarting: Bool { lock.withLock { told } }

    init() throws {
        (descriptor, writeEnd) = try LocalPipe.make(nonBlocking: true)
    }

    /// 0 for an interrupt, else the signal to detach on.
    public func send(_ action: InterruptPolicy.Action) {
        lock.withLock { told = true }
        var byte: UInt8
        switch action {
        case .interrupt: byte = 0
        case let .detach(signal): byte = UInt8(truncatingIfNeeded: signal)
        }
        _ = write(writeEnd, &byte, 1)
    }

    /// The actions sent since the last call.
    func take() -> [InterruptPolicy.Action] {
        var bytes = [UInt8](repeating: 0, count: 16)
        var actions: [InterruptPolicy.Action] = []
        while true {
            let count = read(descriptor, &bytes, bytes.count)
            guard count > 0 else { return actions }
            actions += bytes[0..<count].map { $0 == 0 ? .interrupt : .detach(signal: Int32($0)) }
        }
    }

    func close() {
        Glibc.close(descriptor)
        Glibc.close(writeEnd)
    }
}

/// A pipe within pss, closed on exec.
enum LocalPipe {
    static func make(nonBlocking: Bool = false) throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SessionError.local("pipe: \(String(cString: strerror(errno)))") }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            if nonBlocking { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        }
        return (ends[0], ends[1])
    }
}
