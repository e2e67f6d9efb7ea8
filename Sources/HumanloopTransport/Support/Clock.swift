#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Monotonic and wall-clock time without Foundation.
enum Clock {
    /// Seconds on the monotonic clock.
    static func monotonic() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Seconds since 1970 (for HTTP dates).
    static func unixTime() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Sleeps the calling thread (at most one day; NaN, infinite or negative: not at all).
    static func sleep(seconds: Double) {
        guard seconds.isFinite, seconds > 0 else { return }
        let bounded = min(seconds, 86_400)
        let whole = Int(bounded)
        var request = timespec(tv_sec: whole, tv_nsec: Int((bounded - Double(whole)) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
