import HumanloopCore

/// The cancellation of a `InlineCall`: a flag any thread may set, passed on to the call once it
/// runs on its loop (which wakes the loop).
final class Cancellation: @unchecked Sendable {
    private let lock = Lock()
    private var cancelled = false  // guarded by lock
    private var current: AsyncCall?  // guarded by lock

    var isCancelled: Bool { lock.withLock { cancelled } }

    /// The running call a cancel goes to (nil: none); cancelled at once when the cancel came first.
    func track(_ asyncCall: AsyncCall?) {
        let (previous, cancelNow) = lock.withLock { () -> (AsyncCall?, Bool) in
            let previous = current
            current = asyncCall
            return (previous, cancelled)
        }
        _ = previous  // released outside the lock
        if cancelNow { asyncCall?.cancel() }
    }

    func cancel() {
        let asyncCall = lock.withLock { () -> AsyncCall? in
            cancelled = true
            return current
        }
        asyncCall?.cancel()
    }
}
