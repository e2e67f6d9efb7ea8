#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// The loops of a client's blocking calls and streams (each runs one call at a time, on the
/// caller's thread), kept for reuse so that calls reuse their connections (HTTP keep-alive).
///
/// Every loop whose call ended comes back, up to `maximumIdle`: the pool grows to the largest
/// number of blocking calls that were in flight at once, so a burst does not make later calls
/// reconnect. At most `limit` loops are out at once (`max_connections`; each holds at most one
/// connection): more calls wait for one to come back. Loops made in another process (before a
/// `fork()`) are never handed out: the first checkout in a new process abandons them.
final class LoopPool: @unchecked Sendable {
    /// The most idle loops kept (each may hold one open connection).
    static let maximumIdle = 1024

    /// Why `checkOut` returned no loop.
    enum Refusal: Error {
        /// The deadline passed while every loop was out.
        case timedOut
        /// The call was cancelled while waiting.
        case cancelled
        /// A loop could not be made (no descriptor free, or no memory): why.
        case noLoop(CallError)
    }

    private let limit: Int
    private let lock = Lock()
    private let returned: UnsafeMutablePointer<pthread_cond_t>
    private var idle: [Loop] = []  // guarded by lock
    private var out = 0  // guarded by lock
    private var process = Process.current  // guarded by lock

    private let budget: ConnectionBudget

    /// - Parameters:
    ///   - limit: the most loops out at once.
    ///   - budget: the client's cap on connections, shared with its other loops.
    init(limit: Int, budget: ConnectionBudget) {
        self.limit = max(1, limit)
        self.budget = budget
        returned = .allocate(capacity: 1)
        returned.initialize(to: pthread_cond_t())
        pthread_cond_init(returned, nil)
    }

    deinit {
        pthread_cond_destroy(returned)
        returned.deallocate()
    }

    /// An idle loop, or a new one; waits while `limit` loops are out, until `deadline`
    /// (monotonic seconds; nil: no limit) or until `isCancelled` says so (checked every 50 ms,
    /// outside the pool's lock: no lock of the library is taken while another is held, so that
    /// `ForkGuard` may take them all in any order).
    func checkOut(deadline: Double? = nil, isCancelled: () -> Bool = { false }) -> Result<Loop, Refusal> {
        let current = Process.current
        var inherited: [Loop] = []
        var taken: Loop??  // nil: none yet; .some(nil): a slot without an idle loop
        while taken == nil {
            if isCancelled() { return .failure(.cancelled) }
            let now = Clock.monotonic()
            if let deadline, now >= deadline { return .failure(.timedOut) }
            taken = lock.withLock { () -> Loop?? in
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
            // Kept for good, outside the lock (see `Loop.abandon`).
            for loop in inherited { Loop.abandon(loop) }
            inherited.removeAll()
        }
        if let idleLoop = taken.flatMap({ $0 }) { return .success(idleLoop) }
        // Made outside the lock: a loop makes a `Lock` (see `Lock`).
        let made = Loop(maxConnections: 1, ownsThread: false, budget: budget)
        if made.isUsable { return .success(made) }
        lock.withLock {
            out -= 1
            pthread_cond_signal(returned)
        }
        return .failure(.noLoop(made.setupFailure))
    }

    /// Returns a loop whose call has ended. A loop that is not kept is freed by the caller's
    /// release of it, outside the lock.
    func checkIn(_ loop: Loop) {
        guard loop.process == Process.current else { return }
        lock.withLock {
            guard process == loop.process else { return }
            out = max(0, out - 1)
            if idle.count < Self.maximumIdle { idle.append(loop) }
            pthread_cond_signal(returned)
        }
    }
}
