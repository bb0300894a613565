import Glibc

/// The daemon's time source: the core takes time as an input, and this is where it is read.
public enum MonotonicClock {
    /// Nanoseconds on `CLOCK_MONOTONIC` (not wall time: it never jumps, and starts at an arbitrary point).
    @inlinable
    public static func now() -> UInt64 {
        var ts = timespec()
        // CLOCK_MONOTONIC with a valid pointer cannot fail on Linux.
        _ = clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(truncatingIfNeeded: ts.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: ts.tv_nsec)
    }

    /// Nanoseconds since the Unix epoch on `CLOCK_REALTIME` (it may jump; only handshake timestamps use it).
    public static func wallNanoseconds() -> UInt64 {
        var ts = timespec()
        _ = clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(truncatingIfNeeded: ts.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: ts.tv_nsec)
    }
}
