import Glibc
import SSHClient

/// Work for many targets on a bounded number of threads: each target's connection is driven by one thread from its
/// start to its end (libssh2 wants one owner per session), and the threads, with what each holds, are bounded by
/// the throttle, not by the number of targets.
public enum FanOut {
    /// As PowerShell's ThrottleLimit, pdsh's and parallel-ssh's defaults.
    public static let defaultThrottle = 32

    /// Runs `body` for each index of 0..<count, at most `throttle` at once, starting them in order; returns once
    /// every one has ended. `body` runs on several threads at once: what it shares must be guarded (`Lock`).
    /// `tick`, when given, is called on the calling thread every `interval` seconds until then (a progress line).
    public static func forEach(_ count: Int, throttle: Int, tick: (interval: Double, body: () -> Void)? = nil, _ body: (Int) -> Void) {
        let workers = min(count, max(1, throttle))
        guard workers > 1 || tick != nil else {
            for index in 0..<count { body(index) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let queue = WorkQueue(count: count, body: body)
            // The calling thread works too, unless it ticks.
            let extra = tick == nil ? workers - 1 : workers
            var threads: [pthread_t] = []
            for _ in 0..<extra {
                // Fewer threads when the system refuses more (a process limit): the ones there are do the work.
                guard let thread = JoinableThread.start(stackSize: 2 << 20, { queue.drain() }) else { break }
                threads.append(thread)
            }
            if let tick, !threads.isEmpty {
                while !queue.waitUntilDone(seconds: tick.interval) { tick.body() }
            } else {
                queue.drain()
            }
            for thread in threads { pthread_join(thread, nil) }
        }
    }

    /// The next index to start, and how many have ended.
    private final class WorkQueue: @unchecked Sendable {
        let count: Int
        let body: (Int) -> Void
        private var next = 0
        private var ended = 0
        private let lock = Lock()

        init(count: Int, body: @escaping (Int) -> Void) {
            self.count = count
            self.body = body
        }

        func drain() {
            while let index = lock.withLock({ () -> Int? in
                guard next < count else { return nil }
                defer { next += 1 }
                return next
            }) {
                body(index)
                lock.withLock {
                    ended += 1
                    if ended == count { lock.broadcast() }
                }
            }
        }

        /// Whether every index has ended, waiting up to `seconds` for it.
        func waitUntilDone(seconds: Double) -> Bool {
            lock.withLock {
                if ended < count { lock.wait(seconds: seconds) }
                return ended == count
            }
        }
    }
}

/// A mutex with a condition, for what fan-out threads share.
public final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Inside `withLock`: waits for `broadcast` or `seconds`.
    func wait(seconds: Double) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanoseconds = Int(now.tv_nsec) + Int(seconds * 1e9)
        var until = timespec(tv_sec: now.tv_sec + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        pthread_cond_timedwait(condition, mutex, &until)
    }

    /// Inside `withLock`: wakes every waiter.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
