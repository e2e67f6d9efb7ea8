/// A client's one cap on connections in use (`max_connections`), across all its loops: the
/// engine, the loops of blocking calls and the host's loops (hl_loop_new).
///
/// Every attempt takes a slot before its transfer starts (`tryAcquire`) and gives it back when
/// the transfer ends (`release`), so at most `limit` requests of the client are on the wire at
/// once, whichever loops run them. A call that finds no slot free waits, its `timeout` running
/// (not an attempt), and tries again every `retryInterval`. Idle keep-alive connections are not
/// counted: each loop keeps at most `limit` of them (libcurl's cache).
///
/// (libcurl's own cap, `CURLMOPT_MAX_HOST_CONNECTIONS`, is per multi handle; libcurl does not
/// share one connection cache between multi handles run on different threads, so the cap across
/// loops is counted here.) After `fork()` the child starts with every slot free: the parent's
/// transfers are not the child's.
final class ConnectionBudget: @unchecked Sendable {
    /// The most attempts in flight at once.
    let limit: Int
    /// How often a call waiting for a slot tries again (seconds).
    static let retryInterval = 0.02
    private let lock = Lock()
    private var used = 0  // guarded by lock
    private var process = Process.current  // guarded by lock

    init(limit: Int) { self.limit = max(1, limit) }

    /// Takes a slot; false when all `limit` are in use.
    func tryAcquire() -> Bool {
        lock.withLock {
            forgetParent()
            guard used < limit else { return false }
            used += 1
            return true
        }
    }

    /// Gives back a slot `tryAcquire` took (in this process).
    func release() {
        lock.withLock {
            forgetParent()
            if used > 0 { used -= 1 }
        }
    }

    private func forgetParent() {
        guard process != Process.current else { return }
        process = Process.current
        used = 0
    }
}
