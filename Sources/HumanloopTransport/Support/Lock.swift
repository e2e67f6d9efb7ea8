#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mutual-exclusion lock over `pthread_mutex_t`.
///
/// Fork-safe: every lock is registered with `ForkGuard`, which holds all of them across
/// `fork()`, so a child never inherits one locked by a thread that does not exist there.
/// While holding a `Lock`, never create or destroy a `Lock` (a client, a pool) or anything that
/// may open or close a socket (a client's handles): those take the `ForkGuard`'s registry mutex,
/// which `fork()` holds while it takes every `Lock`.
///
/// Used instead of `Synchronization.Mutex` because ThreadSanitizer intercepts pthread locks but
/// cannot see the futex-based locking of the prebuilt Swift runtime, so the TSan build of the
/// library can check our own code for races.
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        ForkGuard.shared.register(lock: mutex)
    }

    deinit {
        ForkGuard.shared.unregister(lock: mutex)
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Waits on `condition`; the caller holds the lock (inside `withLock`), which is released
    /// while waiting and held again when this returns.
    public func wait(on condition: UnsafeMutablePointer<pthread_cond_t>) {
        pthread_cond_wait(condition, mutex)
    }

    /// `wait(on:)` for at most `seconds` (a wake-up may also come early, spuriously).
    public func wait(on condition: UnsafeMutablePointer<pthread_cond_t>, seconds: Double) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanoseconds = Int(max(0, min(seconds, 1)) * 1e9) + now.tv_nsec
        var until = timespec(tv_sec: now.tv_sec + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        _ = pthread_cond_timedwait(condition, mutex, &until)
    }

    /// Runs `body` while holding the lock.
    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        #if DEBUG
        LockNesting.willLock()
        defer { LockNesting.didUnlock() }
        #endif
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
