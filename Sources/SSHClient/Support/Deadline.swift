import Glibc

/// A point on the monotonic clock, for bounding waits.
public struct Deadline: Sendable, Comparable {
    public var nanoseconds: UInt64

    public static var now: Deadline {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Deadline(nanoseconds: UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec))
    }

    public static func after(seconds: Double) -> Deadline {
        Deadline(nanoseconds: now.nanoseconds + UInt64(max(0, seconds) * 1e9))
    }

    /// `seconds` after this point.
    public func adding(seconds: Double) -> Deadline {
        Deadline(nanoseconds: nanoseconds + UInt64(max(0, seconds) * 1e9))
    }

    public static let distantFuture = Deadline(nanoseconds: .max / 2)

    /// Milliseconds left, for poll(): at least 0, at most a day.
    public var pollTimeout: Int32 {
        let current = Deadline.now.nanoseconds
        guard nanoseconds > current else { return 0 }
        return Int32(min((nanoseconds - current + 999_999) / 1_000_000, 86_400_000))
    }

    public var hasPassed: Bool { Deadline.now >= self }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
}
