#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The handles of a client's blocking calls and streams, kept for reuse so that calls reuse
/// their connections (HTTP keep-alive).
///
/// Every handle whose transfer ended comes back, up to `maximumIdle`: the pool grows to the
/// largest number of calls that were in flight at once, so a burst does not make later calls
/// reconnect. At most `limit` handles are out at once (`max_connections`; each holds at most one
/// connection): more calls wait for one to come back. Handles made in another process (before a
/// `fork()`) are never handed out: the first checkout in a new process drops them.
final class HandlePool: @unchecked Sendable {
    /// The most idle handles kept (each may hold one open connection).
    static let maximumIdle = 1024

    /// Why `checkOut` returned no handle.
    enum Refusal: Error {
        /// The deadline passed while every handle was out.
        case timedOut
        /// The call was cancelled while waiting.
        case cancelled
        /// libcurl could not make a handle.
        case noHandle
    }

    private let limit: Int
    private let lock = Lock()
    private let returned: UnsafeMutablePointer<pthread_cond_t>
    private var idle: [CurlHandle] = []  // guarded by lock
    private var out = 0  // guarded by lock
    private var process = Process.current  // guarded by lock

    /// - Parameter limit: the most handles out at once.
    init(limit: Int = Int.max) {
        self.limit = max(1, limit)
        returned = .allocate(capacity: 1)
        returned.initialize(to: pthread_cond_t())
        pthread_cond_init(returned, nil)
    }

    deinit {
        pthread_cond_destroy(returned)
        returned.deallocate()
    }

    /// An idle handle, or a new one; waits while `limit` handles are out, until `deadline`
    /// (monotonic seconds; nil: no limit) or until `isCancelled` says so (checked every 50 ms,
    /// outside the pool's lock: no lock of the library is taken while another is held, so that
    /// `ForkGuard` may take them all in any order).
    func checkOut(deadline: Double? = nil, isCancelled: () -> Bool = { false }) -> Result<CurlHandle, Refusal> {
        let current = Process.current
        var inherited: [CurlHandle] = []
        var taken: CurlHandle??  // nil: none yet; .some(nil): a slot without an idle handle
        while taken == nil {
            if isCancelled() { return .failure(.cancelled) }
            let now = Clock.monotonic()
            if let deadline, now >= deadline { return .failure(.timedOut) }
            taken = lock.withLock { () -> CurlHandle?? in
                if process != current {
                    swap(&inherited, &idle)
                    process = current
                    out = 0
                }
                if out >= limit {
                    lock.wait(on: returned, seconds: min(0.05, deadline.map { $0 - now } ?? 0.05))
                    guard out < limit else { return nil }
                }
                out += 1
                return .some(idle.popLast())
            }
            inherited.removeAll()  // cleaned up here, outside the lock (see `Lock`)
        }
        if let idleHandle = taken.flatMap({ $0 }) { return .success(idleHandle) }
        if let made = CurlHandle() { return .success(made) }
        lock.withLock {
            out -= 1
            pthread_cond_signal(returned)
        }
        return .failure(.noHandle)
    }

    /// Returns a handle whose transfer has ended. A handle that is not kept is cleaned up by the
    /// caller's release of it, outside the lock.
    func checkIn(_ handle: CurlHandle) {
        guard handle.process == Process.current else { return }
        lock.withLock {
            guard process == handle.process else { return }
            out = max(0, out - 1)
            if idle.count < Self.maximumIdle { idle.append(handle) }
            pthread_cond_signal(returned)
        }
    }
}
