#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// Receives the items of an asynchronous call on the engine thread: the item (typed; the C ABI
/// encodes it), and whether it is the call's terminal item.
public typealias ItemSink = (_ item: CallResult, _ isTerminal: Bool) -> Void

/// One asynchronous call run by a `Loop` (an hl_call of the C API): a client's engine, or a
/// host's loop.
///
/// `cancel` and `release` may be called from any thread, also from inside the sink. The rest is
/// the engine thread's.
public final class AsyncCall: @unchecked Sendable {
    let engine: Loop
    let sink: ItemSink
    /// Deliver events one by one (else a stream request is merged into one result).
    let deliversEvents: Bool

    // Guarded by engine.lock:
    var isReleased = false
    var cancelRequested = false
    /// The terminal item was (or is being) delivered.
    var isFinished = false
    var isDelivering = false

    // The engine thread's:
    /// The call to run, or nil when it failed before starting (`startFailure`).
    let call: Call?
    let startFailure: CallResult?
    var transfer: Transfer?
    var retryAt: Double?
    /// Until when the call's first attempt may wait for a draining connection (set once;
    /// -infinity once the wait is over).
    var drainWaitEnd: Double?
    var merged: MergedStream?
    /// The engine saw this call's cancel command.
    var cancelSeen = false
    /// The host paused the call's transfer (`pause`): no stall check while it is.
    var paused = false
    /// The call's place in the engine's active list (-1 when not active).
    var activeIndex = -1

    init(engine: Loop, call: Call, deliversEvents: Bool, sink: @escaping ItemSink) {
        self.engine = engine
        self.call = call
        self.sink = sink
        self.deliversEvents = deliversEvents
        startFailure = nil
        if !deliversEvents && call.mode == .eventStream { merged = MergedStream(limit: call.settings.maxResponseBytes) }
    }

    /// A call that ends with `failure` as soon as the engine delivers it.
    init(engine: Loop, failure: CallResult, sink: @escaping ItemSink) {
        self.engine = engine
        call = nil
        startFailure = failure
        self.sink = sink
        deliversEvents = false
    }

    /// The terminal item of this call when it ends with `error` before its transfer could run:
    /// its own start failure, if it had one.
    func failureResult(_ error: CallError) -> CallResult {
        if let startFailure { return startFailure }
        if let call { return call.result(.failure(error)) }
        return .failure(error, attempts: 0, secrets: Secrets())
    }

    /// Hands the call to its engine. Its sink may run before this returns (on the engine thread).
    public func start() {
        engine.send(.start(self))
    }

    /// True once the call's handle was released (its pending items are discarded).
    public var isReleasedNow: Bool { engine.lock.withLock { isReleased } }

    /// Pauses (or resumes) receiving the call's answer: flow control for a consumer that falls
    /// behind. Any thread; takes effect at the loop's next step.
    public func pause(_ paused: Bool) {
        engine.send(.pause(self, paused))
    }

    /// Makes an unfinished call end promptly with a "cancelled" terminal item. Any thread, any
    /// time, idempotent; no effect once the terminal item is being delivered.
    public func cancel() {
        let send = engine.lock.withLock { () -> Bool in
            guard !isFinished && !cancelRequested else { return false }
            cancelRequested = true
            return true
        }
        if send { engine.send(.cancel(self)) }
    }

    /// No item is delivered after this returns (an unfinished call is cancelled). From another
    /// thread, waits for a delivery in progress; from inside this call's own sink, returns at once.
    public func release() {
        let (unfinished, mustWait) = engine.lock.withLock { () -> (Bool, Bool) in
            isReleased = true
            let unfinished = !isFinished && !cancelRequested
            if unfinished { cancelRequested = true }
            return (unfinished, isDelivering && !engine.isEngineThreadLocked)
        }
        if unfinished { engine.send(.cancel(self)) }
        // A call of another process (inherited through fork()) has no engine thread here.
        guard mustWait, engine.process == Process.current else { return }
        engine.waitUntilDelivered(self)
    }
}
