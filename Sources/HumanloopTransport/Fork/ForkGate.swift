#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The gate every libcurl entry of the library goes through, so that `fork()` never happens
/// while a thread of the library is inside libcurl (or OpenSSL under it): a child would inherit
/// the locks that thread held, and hang in the first one it needs.
///
/// - A loop's step (`Loop`), the making and cleaning up of its multi handle, and everything
///   that touches an easy handle run inside (`inside`). Waiting for readiness (the loop's
///   `epoll_wait`) does not: a loop holds nothing between steps.
/// - Host code never runs inside: a call's sink (C callbacks, queue and loop hand-offs) and the
///   log callback run `outside`, which leaves the gate for their duration. A callback may fork,
///   and a host whose fork holds its own locks (CPython's `os.fork` holds the GIL and logging's
///   lock) never waits for a library thread that waits for the host.
/// - `fork()`'s prepare handler (`ForkGuard`) closes the gate and waits until no thread is
///   inside; threads that want to enter wait until the parent and the child reopen it. The wait
///   is short: no libcurl call of a multi loop blocks (names are resolved on libcurl's own
///   threads, TLS and sockets are non-blocking).
///
/// The gate nests per thread (a depth kept in thread-specific storage), so code that is inside
/// may call code that enters again.
final class ForkGate: @unchecked Sendable {
    static let shared = ForkGate()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>
    /// Threads inside the gate now (guarded by mutex).
    private var threadsInside = 0
    /// A fork is being prepared: nobody enters (guarded by mutex).
    private var isClosed = false
    /// Each thread's depth inside the gate.
    private var depthKey = pthread_key_t()

    private init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        changed = .allocate(capacity: 1)
        changed.initialize(to: pthread_cond_t())
        pthread_cond_init(changed, nil)
        pthread_key_create(&depthKey, nil)
    }

    private var depth: Int {
        get { Int(bitPattern: pthread_getspecific(depthKey)) }
        set { pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: newValue)) }
    }

    /// Runs `body` inside the gate (waiting while a fork is being prepared).
    @inline(__always)
    func inside<Result>(_ body: () throws -> Result) rethrows -> Result {
        enter()
        defer { leave() }
        return try body()
    }

    /// Runs `body` (host code) outside the gate, whatever the calling thread's depth, and enters
    /// again afterwards.
    @inline(__always)
    func outside<Result>(_ body: () throws -> Result) rethrows -> Result {
        let held = depth
        guard held > 0 else { return try body() }
        depth = 0
        release()
        defer {
            acquire()
            depth = held
        }
        return try body()
    }

    private func enter() {
        let held = depth
        if held == 0 { acquire() }
        depth = held + 1
    }

    private func leave() {
        let held = depth
        depth = held - 1
        if held == 1 { release() }
    }

    private func acquire() {
        pthread_mutex_lock(mutex)
        while isClosed { pthread_cond_wait(changed, mutex) }
        threadsInside += 1
        pthread_mutex_unlock(mutex)
    }

    private func release() {
        pthread_mutex_lock(mutex)
        threadsInside -= 1
        if threadsInside == 0 && isClosed { pthread_cond_broadcast(changed) }
        pthread_mutex_unlock(mutex)
    }

    /// Before fork(): closes the gate and waits until no other thread is inside (a thread that
    /// forks from inside, which the library never does, is not waited for). Returns holding the
    /// gate's mutex, released by `reopen` in both processes.
    func close() {
        let own = depth > 0 ? 1 : 0
        pthread_mutex_lock(mutex)
        isClosed = true
        while threadsInside > own { pthread_cond_wait(changed, mutex) }
    }

    /// After fork(), in the parent: opens the gate again.
    func reopenInParent() {
        isClosed = false
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// After fork(), in the child: only the forking thread exists; the gate opens with it alone
    /// inside if it was. The waiters of the condition were threads of the parent.
    func reopenInChild() {
        isClosed = false
        threadsInside = depth > 0 ? 1 : 0
        pthread_cond_init(changed, nil)
        pthread_mutex_unlock(mutex)
    }
}
