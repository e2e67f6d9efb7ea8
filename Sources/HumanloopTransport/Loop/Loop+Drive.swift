#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl
import HumanloopCore

// Each call's progress on the loop: its attempts, the items it delivers, its end.
extension Loop {
    /// Runs one call as far as it can go now.
    func drive(_ asyncCall: AsyncCall) {
        guard asyncCall.activeIndex >= 0, let call = asyncCall.call else { return }
        while true {
            if asyncCall.cancelSeen { return end(asyncCall, with: call.cancelledOutput(during: asyncCall.transfer)) }
            if let at = asyncCall.retryAt {
                guard Clock.monotonic() >= at else { return }
                asyncCall.retryAt = nil
            }
            if asyncCall.transfer == nil {
                if waitsForDrain(asyncCall) { return }
                // A slot of the client's max_connections first (shared by all its loops).
                guard budget.tryAcquire() else {
                    let now = Clock.monotonic()
                    if let failure = call.connectionWaitFailure(now: now) { return end(asyncCall, with: failure) }
                    asyncCall.retryAt = now + ConnectionBudget.retryInterval
                    return
                }
                guard let multi, let handle = idleHandles.popLast() ?? CurlHandle() else {
                    budget.release()
                    return end(asyncCall, with: .failure(.connectionError("libcurl could not create a transfer")))
                }
                let transfer = call.startAttempt(handle: handle, multi: multi)
                _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_PRIVATE, Unmanaged.passUnretained(asyncCall).toOpaque())
                if asyncCall.paused { transfer.setPaused(true) }
                asyncCall.transfer = transfer
            }
            guard let transfer = asyncCall.transfer else { return }
            switch call.step(transfer) {
            case .wait:
                return
            case .retry(let delay):
                asyncCall.transfer = nil
                budget.release()
                recycle(transfer)
                if delay > 0 { asyncCall.retryAt = Clock.monotonic() + delay }
            case .output(let output):
                guard output.isTerminal else {
                    if asyncCall.deliversEvents {
                        guard deliver(asyncCall, call.result(output), terminal: false) else {
                            // Cancelled or released from a callback: stop here.
                            asyncCall.cancelSeen = true
                            continue
                        }
                    } else if case .event(let raw, _) = output, let failure = asyncCall.merged?.add(raw) {
                        return end(asyncCall, with: .failure(failure))
                    }
                    continue
                }
                return end(asyncCall, with: output)
            }
        }
    }

    /// Ends a call with its terminal output: the transfer is released (a finished stream's is
    /// drained for its connection) and the terminal item delivered.
    func end(_ asyncCall: AsyncCall, with output: Call.Output) {
        if let transfer = asyncCall.transfer {
            asyncCall.transfer = nil
            budget.release()
            if case .done = output, !transfer.isComplete {
                transfer.drainRest(maximumBytes: 64 * 1024)
                _ = hl_curl_easy_setopt_pointer(transfer.handle.easy, CURLOPT_PRIVATE, nil)
                let now = Clock.monotonic()
                draining.append((transfer, now + 1, now + Self.drainGrace))
            } else {
                recycle(transfer)
            }
        }
        removeActive(asyncCall)
        guard let call = asyncCall.call else { return }
        let item = asyncCall.merged.map { $0.result(output, of: call) } ?? call.result(output)
        deliver(asyncCall, item, terminal: true)
    }

    /// True while a call's attempt should wait for a stream that ended less than `drainGrace`
    /// ago to be read to its end, so that it takes that connection instead of opening one (the
    /// end of the drain drives every call again). Each call waits so at most once, for at most
    /// `drainGrace`.
    func waitsForDrain(_ asyncCall: AsyncCall) -> Bool {
        let now = Clock.monotonic()
        let fresh = draining.contains { now < $0.graceEnd }
        switch asyncCall.drainWaitEnd {
        case nil where fresh:
            asyncCall.drainWaitEnd = now + Self.drainGrace
            return true
        case let end? where fresh && now < end:
            return true
        case nil:
            return false
        case _?:
            // The wait is over (-infinity: never again, and no deadline for `nextOwnDeadline`).
            asyncCall.drainWaitEnd = -.infinity
            return false
        }
    }

    func removeActive(_ asyncCall: AsyncCall) {
        let index = asyncCall.activeIndex
        guard index >= 0, index < active.count else { return }
        let last = active.removeLast()
        if index < active.count {
            active[index] = last
            last.activeIndex = index
        }
        asyncCall.activeIndex = -1
    }

    /// Hands an item to the call's sink unless the call was released. Returns false when the
    /// call must not go on (released, or cancelled while or before the item was delivered).
    @discardableResult
    func deliver(_ asyncCall: AsyncCall, _ item: CallResult, terminal: Bool) -> Bool {
        let proceed = lock.withLock { () -> Bool in
            guard !asyncCall.isReleased, terminal || !asyncCall.cancelRequested else { return false }
            if terminal { asyncCall.isFinished = true }
            asyncCall.isDelivering = true
            return true
        }
        guard proceed else { return false }
        // Host code (callbacks, hand-offs): never inside the fork gate.
        ForkGate.shared.outside { asyncCall.sink(item, terminal) }
        return lock.withLock { () -> Bool in
            asyncCall.isDelivering = false
            if asyncCall.isReleased { pthread_cond_broadcast(delivered) }
            return !asyncCall.isReleased && !asyncCall.cancelRequested
        }
    }

    /// Detaches a transfer and keeps its handle for the next one (its connection stays in the
    /// multi handle's cache when the exchange ended cleanly).
    func recycle(_ transfer: Transfer) {
        guard let handle = transfer.releaseHandle() else { return }
        _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_PRIVATE, nil)
        if idleHandles.count < Self.maximumIdle { idleHandles.append(handle) }
    }

    func failAll(_ message: String) {
        while let asyncCall = active.last {
            let failure = CallError.connectionError(message)
            end(asyncCall, with: asyncCall.call?.interruptedOutput(failure, during: asyncCall.transfer) ?? .failure(failure))
        }
    }

}
