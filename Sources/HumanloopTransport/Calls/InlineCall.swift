import HumanloopCore

/// A call driven on the caller's thread (the blocking calls, hl_call_run, and the streams of
/// hl_complete_stream): it checks a loop out of its client's pool and runs it until the call has
/// something to deliver — the same driver as the engine's and a host's, run inline, as
/// `curl_easy_perform` runs a private multi loop. Closing it (or dropping it) ends the call,
/// closes an unfinished connection and returns the loop, with its open connection, to the pool.
///
/// Not thread-safe, except `cancel`, which any thread may call at any time.
public final class InlineCall {
    /// What the call delivered and the caller has not taken yet (filled by the loop's sink, on
    /// the caller's thread, inside `Loop.run`).
    private final class Inbox {
        var items: [(result: CallResult, isTerminal: Bool)] = []
        var taken = 0
    }

    private let client: TransportClient
    private let call: Call?
    private var pendingFailure: CallError?
    /// Deliver the events one by one (a stream), else one result (a stream request merged).
    private let deliversEvents: Bool
    private let inbox = Inbox()
    private var loop: Loop?
    private var asyncCall: AsyncCall?
    private var finished = false
    /// The process that started the call: it alone may drive it.
    private let process = Process.current
    private let cancellation = Cancellation()

    init(client: TransportClient, call: Call, deliversEvents: Bool) {
        self.client = client
        self.call = call
        self.deliversEvents = deliversEvents
    }

    init(client: TransportClient, failure: CallError) {
        self.client = client
        call = nil
        pendingFailure = failure
        deliversEvents = false
    }

    deinit { close() }

    /// Ends the call (closing an unfinished connection) and returns the loop. Later calls return
    /// nothing.
    public func close() {
        finished = true
        guard let loop else { return }
        self.loop = nil
        cancellation.track(nil)
        // A call inherited through fork(): its loop is the parent's.
        guard process == Process.current else {
            asyncCall = nil
            return Loop.abandon(loop)
        }
        if let asyncCall {
            self.asyncCall = nil
            asyncCall.release()
            // The loop sees the cancel now: the transfer is detached, its connection closed.
            loop.run(timeoutMilliseconds: 0)
        }
        // A finished stream's rest is read (at most 1 s and 64 KiB) so that its connection
        // stays open for the next call.
        loop.finishDraining(until: cancellation.isCancelled ? 0 : Clock.monotonic() + 1)
        client.pool.checkIn(loop)
    }

    /// Makes the call end promptly with a "cancelled" failure (from any thread; idempotent).
    public func cancel() {
        cancellation.cancel()
    }

    /// Runs the call to its end and returns its result: a buffered answer's, or for a request
    /// with `"stream": true` the events merged into one.
    public func runToEnd() -> CallResult {
        next() ?? .failure(.connectionError("the call ended without a result"), attempts: 0, secrets: client.secrets)
    }

    /// The next item (a stream's event, then its terminal item), or nil after the terminal
    /// item. Blocks until it is there.
    public func next() -> CallResult? {
        if let failure = pendingFailure, !finished {
            finished = true
            return .failure(failure, attempts: 0, secrets: client.secrets)
        }
        guard !finished, let call else { return nil }
        while inbox.taken >= inbox.items.count {
            guard process == Process.current else { return end(call.result(.failure(ForkGuard.crossedFork))) }
            if asyncCall == nil, let failure = start(call) { return end(failure) }
            loop?.run(timeoutMilliseconds: 1000)
        }
        let item = inbox.items[inbox.taken]
        inbox.taken += 1
        if inbox.taken == inbox.items.count {
            inbox.items.removeAll(keepingCapacity: true)
            inbox.taken = 0
        }
        return item.isTerminal ? end(item.result) : item.result
    }

    /// Checks a loop out (waiting while `max_connections` loops are out, its timeout running)
    /// and starts the call on it; the failure when it cannot start.
    private func start(_ call: Call) -> CallResult? {
        let deadline = call.settings.timeoutSeconds.map { Clock.monotonic() + $0 }
        switch client.pool.checkOut(deadline: deadline, isCancelled: { cancellation.isCancelled }) {
        case .success(let taken):
            loop = taken
            let inbox = inbox
            let started = AsyncCall(engine: taken, call: call, deliversEvents: deliversEvents) { result, isTerminal in
                inbox.items.append((result, isTerminal))
            }
            asyncCall = started
            taken.startInline(started)
            cancellation.track(started)
            return nil
        case .failure(.cancelled):
            return call.result(call.cancelledOutput(during: nil))
        case .failure(.timedOut):
            return call.result(.failure(.timeout(
                "the request timed out after \(call.settings.timeoutText) s (timeout) waiting for a connection (max_connections): nothing was sent")))
        case .failure(.noLoop(let failure)):
            return call.result(.failure(failure))
        }
    }

    /// The call's terminal item: the call is over and its loop goes back to the pool.
    private func end(_ result: CallResult) -> CallResult {
        asyncCall = nil  // finished: nothing to cancel
        close()
        return result
    }
}
