import HumanloopCore

/// A call driven on the caller's thread (the blocking calls, hl_call_run, and the streams of
/// hl_complete_stream): each `nextOutput` lets libcurl make progress on the transfer's own multi
/// handle until the call has something to deliver. Closing it (or dropping it) ends the
/// transfer and closes an unfinished connection.
///
/// Not thread-safe, except `cancel`, which any thread may call at any time.
public final class BlockingCall {
    private let client: HumanloopClient
    private let call: Call?
    private var pendingFailure: HumanloopError?
    private var transfer: Transfer?
    private var retryAt: Double?
    private var finished = false
    /// The process that started the call: it alone may drive it.
    private let process = Process.current
    /// Set for calls that can be cancelled from another thread (streams).
    private let cancellation: Cancellation?
    private var merged: MergedStream?

    /// Attempts made so far.
    public var attempts: Int { call?.attempts ?? 0 }

    init(client: HumanloopClient, call: Call, cancellable: Bool) {
        self.client = client
        self.call = call
        cancellation = cancellable ? Cancellation() : nil
    }

    init(client: HumanloopClient, failure: HumanloopError) {
        self.client = client
        call = nil
        pendingFailure = failure
        cancellation = nil
    }

    deinit { close() }

    /// Ends the transfer (closing an unfinished connection). Later calls return nothing.
    public func close() {
        finished = true
        cancellation?.track(nil)
        transfer?.release(to: client.pool)
        transfer = nil
    }

    /// Makes the call end promptly with a "cancelled" failure (from any thread; idempotent).
    public func cancel() {
        cancellation?.cancel()
    }

    /// Runs the call to its end and returns its envelope: a buffered answer's, or for a request
    /// with `"stream": true` the events merged into one.
    public func runToEnvelope() -> [UInt8] {
        guard let call else { return nextEnvelope() ?? [] }
        if call.mode == .eventStream { merged = MergedStream(limit: call.settings.maxResponseBytes) }
        while let output = nextOutput() {
            guard case .event(let raw, _) = output else {
                return merged.map { $0.envelope(output, of: call) } ?? call.envelope(output)
            }
            if let failure = merged?.add(raw) {
                close()
                return call.envelope(.failure(failure))
            }
        }
        return call.envelope(.failure(.connectionError("the call ended without a result")))
    }

    /// The next item as an envelope (a stream's event, then its terminal item), or nil after
    /// the terminal item.
    public func nextEnvelope() -> [UInt8]? {
        if let failure = pendingFailure, !finished {
            finished = true
            return client.encode(client.failureEnvelope(failure, attempts: 0))
        }
        guard let call, let output = nextOutput() else { return nil }
        return call.envelope(output)
    }

    /// The next output, blocking until it is available; nil after the terminal one.
    func nextOutput() -> Call.Output? {
        guard !finished, let call else { return nil }
        guard process == Process.current else { return end(with: .failure(ForkGuard.crossedFork)) }
        while true {
            if cancellation?.isCancelled == true { return end(with: call.cancelledOutput(during: transfer)) }
            if let at = retryAt {
                let left = at - Clock.monotonic()
                if left > 0 {
                    // In slices, so that a cancel cuts the delay short.
                    Clock.sleep(seconds: cancellation == nil ? left : min(left, 0.05))
                    continue
                }
                retryAt = nil
            }
            if transfer == nil {
                let deadline = call.settings.timeoutSeconds.map { Clock.monotonic() + $0 }
                let handle: CurlHandle
                switch client.pool.checkOut(deadline: deadline, isCancelled: { cancellation?.isCancelled == true }) {
                case .success(let taken):
                    handle = taken
                case .failure(.cancelled):
                    continue
                case .failure(.timedOut):
                    return end(with: .failure(.timeout(
                        "the request timed out after \(call.settings.timeoutText) s (timeout) waiting for a connection (max_connections): nothing was sent")))
                case .failure(.noHandle):
                    return end(with: .failure(.connectionError("libcurl could not create a transfer")))
                }
                guard let multi = handle.ownMulti else {
                    client.pool.checkIn(handle)
                    return end(with: .failure(.connectionError("libcurl could not create a transfer")))
                }
                let started = call.startAttempt(handle: handle, multi: multi)
                transfer = started
                cancellation?.track(started)
            }
            guard let current = transfer else { continue }
            switch call.step(current) {
            case .output(let output):
                guard output.isTerminal else { return output }
                if case .done = output { drain(current) }
                return end(with: output)
            case .retry(let delay):
                cancellation?.track(nil)
                current.release(to: client.pool)
                transfer = nil
                if delay > 0 { retryAt = Clock.monotonic() + delay }
            case .wait:
                current.step(waitMilliseconds: 1000)
            }
        }
    }

    /// After a stream's `[DONE]`: reads the rest of the body (at most 1 s and 64 KiB), so that
    /// the connection goes back to the pool instead of being closed.
    private func drain(_ transfer: Transfer) {
        transfer.drainRest(maximumBytes: 64 * 1024)
        let deadline = Clock.monotonic() + 1
        while !transfer.isComplete && cancellation?.isCancelled != true {
            let left = deadline - Clock.monotonic()
            guard left > 0 else { break }
            transfer.step(waitMilliseconds: Int32(min(1000, (left * 1000).rounded(.up))))
        }
    }

    private func end(with output: Call.Output) -> Call.Output {
        close()
        return output
    }
}

/// The cancellation of a `BlockingCall`: a flag any thread may set, which also wakes the
/// transfer being driven.
final class Cancellation: @unchecked Sendable {
    private let lock = Lock()
    private var cancelled = false  // guarded by lock
    private var current: Transfer?  // guarded by lock

    var isCancelled: Bool { lock.withLock { cancelled } }

    /// The transfer a cancel must wake (nil: none).
    func track(_ transfer: Transfer?) {
        let previous = lock.withLock { () -> Transfer? in
            let previous = current
            current = transfer
            return previous
        }
        _ = previous  // released outside the lock
    }

    func cancel() {
        let transfer = lock.withLock { () -> Transfer? in
            cancelled = true
            return current
        }
        // The transfer's handle lives as long as this reference; a wake-up that reaches the
        // handle after it moved on to another transfer is only a spurious wake-up there.
        transfer?.wake()
    }
}
