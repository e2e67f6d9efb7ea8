#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl
import HumanloopCore

/// Runs asynchronous calls on libcurl's multi interface, on one thread of its own: no thread per
/// call, thousands of calls in flight, HTTP/2 multiplexing where the server offers it.
///
/// Other threads reach the engine thread through `send` (a command queue plus
/// `curl_multi_wakeup`); everything else (the multi handle, the transfers, the calls' progress)
/// belongs to the engine thread. Started on the first command, stopped by `stop`.
final class Engine: @unchecked Sendable {
    enum Command {
        case start(AsyncCall)
        case cancel(AsyncCall)
    }

    /// Guards the command queue and the calls' shared state (`AsyncCall`).
    let lock = Lock()
    /// The process that made the engine: its thread and connections exist only there.
    let process = Process.current
    private let multi: UnsafeMutableRawPointer?
    private var commands: [Command] = []  // guarded by lock
    private var stopRequested = false  // guarded by lock
    private var threadStarted = false  // guarded by lock
    private var engineThread: pthread_t?  // guarded by lock
    /// Set (under lock) once the multi handle is cleaned up: no wake-up may reach it then.
    private var isShutDown = false  // guarded by lock
    private var thread = pthread_t()
    /// Signalled (with `lock`) whenever a delivery ends, for `waitUntilDelivered`.
    private let delivered: UnsafeMutablePointer<pthread_cond_t> = {
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        return condition
    }()

    // The engine thread's:
    private var active: [AsyncCall] = []
    /// Finished streams read to their end so that their connections stay open.
    private var draining: [(transfer: Transfer, deadline: Double)] = []
    private var idleHandles: [CurlHandle] = []
    private var lastStallCheck = 0.0

    /// The most idle easy handles kept.
    private static let maximumIdle = 1024
    /// How often the low_speed_timeout of running transfers is checked (seconds).
    private static let stallCheckInterval = 0.25

    init(maxConnections: Int) {
        multi = CurlRuntime.isInitialized ? curl_multi_init() : nil
        if let multi {
            _ = hl_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnections)
            _ = hl_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnections)
            _ = hl_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        }
    }

    deinit {
        // Only an engine whose thread never ran gets here with its multi handle (a stopped one
        // cleaned up on its thread; one of another process is never released).
        if let multi, !threadStartedUnlocked { curl_multi_cleanup(multi) }
        pthread_cond_destroy(delivered)
        delivered.deallocate()
    }

    private var threadStartedUnlocked: Bool { lock.withLock { threadStarted } }

    /// True on the engine's own thread (inside a sink).
    var isEngineThread: Bool { lock.withLock { isEngineThreadLocked } }

    /// `isEngineThread` for a caller holding `lock`.
    var isEngineThreadLocked: Bool {
        guard let engineThread else { return false }
        return pthread_equal(engineThread, pthread_self()) != 0
    }

    /// Queues a command for the engine thread (starting it if needed) and wakes it.
    /// The engine thread itself is not woken: it looks at the queue before it waits.
    func send(_ command: Command) {
        guard let multi else { return }
        let (start, needsWake) = lock.withLock { () -> (Bool, Bool) in
            // A non-empty queue already has a wake-up on its way.
            let needsWake = commands.isEmpty && !isEngineThreadLocked
            commands.append(command)
            guard !threadStarted && !stopRequested else { return (false, needsWake) }
            threadStarted = true
            return (true, needsWake)
        }
        if start { startThread() }
        if needsWake { wake(multi) }
    }

    /// Blocks until `asyncCall` is not being delivered (its sink returned). Not on the engine thread.
    func waitUntilDelivered(_ asyncCall: AsyncCall) {
        lock.withLock {
            while asyncCall.isDelivering { lock.wait(on: delivered) }
        }
    }

    /// Wakes the engine thread (a write to libcurl's wake-up socket; never once it is gone).
    private func wake(_ multi: UnsafeMutableRawPointer) {
        lock.withLock {
            if !isShutDown { _ = curl_multi_wakeup(multi) }
        }
    }

    private func startThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 1 << 20)
        let created = pthread_create(&thread, &attributes, { context in
            guard let context else { return nil }
            let engine = Unmanaged<Engine>.fromOpaque(context).takeRetainedValue()
            engine.run()
            return nil
        }, context)
        pthread_attr_destroy(&attributes)
        if created != 0 {
            Unmanaged<Engine>.fromOpaque(context).release()
            // No thread: the calls queued so far end at once with an error.
            let queued = lock.withLock { () -> [Command] in
                threadStarted = false
                stopRequested = true
                defer { commands.removeAll() }
                return commands
            }
            for case .start(let asyncCall) in queued {
                let failure = HumanloopError.connectionError("the library could not start its engine thread")
                deliver(asyncCall, asyncCall.startFailure ?? asyncCall.call?.envelope(.failure(failure)) ?? [], terminal: true)
            }
        }
    }

    /// Cancels every call in flight, delivers their terminal items and ends the engine thread
    /// (waiting for it, unless called on it).
    func stop() {
        let (started, onThread) = lock.withLock { () -> (Bool, Bool) in
            stopRequested = true
            return (threadStarted, isEngineThreadLocked)
        }
        guard started, let multi else { return }
        wake(multi)
        if onThread {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    // MARK: - The engine thread

    private func run() {
        guard let multi else { return }
        lock.withLock { engineThread = pthread_self() }
        while true {
            let (queued, stopping) = lock.withLock { () -> ([Command], Bool) in
                defer { commands.removeAll(keepingCapacity: true) }
                return (commands, stopRequested)
            }
            for command in queued { handle(command) }
            if stopping { return shutDown() }
            var running: Int32 = 0
            let performed = curl_multi_perform(multi, &running)
            if performed != CURLM_OK {
                failAll("libcurl's multi interface failed: \(String(cString: curl_multi_strerror(performed)))")
            }
            readMessages()
            progressAll()
            // Commands sent from this thread (callbacks starting calls) wake nothing: run them now.
            let wait = lock.withLock { commands.isEmpty } ? nextWaitMilliseconds() : 0
            _ = curl_multi_poll(multi, nil, 0, wait, nil)
        }
    }

    private func handle(_ command: Command) {
        switch command {
        case .start(let asyncCall):
            guard asyncCall.call != nil else {
                deliver(asyncCall, asyncCall.startFailure ?? [], terminal: true)
                return
            }
            asyncCall.activeIndex = active.count
            active.append(asyncCall)
            if lock.withLock({ asyncCall.cancelRequested }) { asyncCall.cancelSeen = true }
            drive(asyncCall)
        case .cancel(let asyncCall):
            guard asyncCall.activeIndex >= 0 else { return }
            asyncCall.cancelSeen = true
            drive(asyncCall)
        }
    }

    /// Reads the transfers libcurl finished.
    private func readMessages() {
        guard let multi else { return }
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            var owner: UnsafeMutablePointer<CChar>?
            _ = hl_curl_easy_getinfo_string(easy, CURLINFO_PRIVATE, &owner)
            if let owner {
                let asyncCall = Unmanaged<AsyncCall>.fromOpaque(UnsafeRawPointer(owner)).takeUnretainedValue()
                asyncCall.transfer?.finish(with: code)
            } else if let index = draining.firstIndex(where: { $0.transfer.handle.easy == easy }) {
                let finished = draining.remove(at: index)
                finished.transfer.finish(with: code)
                recycle(finished.transfer)
            }
        }
    }

    /// Lets every active call deliver what it has, end, or retry; checks stalls and timers.
    private func progressAll() {
        let now = Clock.monotonic()
        let checkStalls = now - lastStallCheck >= Self.stallCheckInterval
        if checkStalls {
            lastStallCheck = now
            draining.removeAll { entry in
                guard now >= entry.deadline else { return false }
                recycle(entry.transfer)
                return true
            }
        }
        var index = 0
        while index < active.count {
            let asyncCall = active[index]
            if checkStalls { asyncCall.transfer?.checkStall(now: now) }
            drive(asyncCall)
            // A call that ended left the list (its place now holds the last one).
            if index < active.count && active[index] === asyncCall { index += 1 }
        }
    }

    /// Runs one call as far as it can go now.
    private func drive(_ asyncCall: AsyncCall) {
        guard asyncCall.activeIndex >= 0, let call = asyncCall.call else { return }
        while true {
            if asyncCall.cancelSeen { return end(asyncCall, with: call.cancelledOutput(during: asyncCall.transfer)) }
            if let at = asyncCall.retryAt {
                guard Clock.monotonic() >= at else { return }
                asyncCall.retryAt = nil
            }
            if asyncCall.transfer == nil {
                guard let multi, let handle = idleHandles.popLast() ?? CurlHandle(withMulti: false) else {
                    return end(asyncCall, with: .failure(.connectionError("libcurl could not create a transfer")))
                }
                let transfer = call.startAttempt(handle: handle, multi: multi)
                _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_PRIVATE, Unmanaged.passUnretained(asyncCall).toOpaque())
                asyncCall.transfer = transfer
            }
            guard let transfer = asyncCall.transfer else { return }
            switch call.step(transfer) {
            case .wait:
                return
            case .retry(let delay):
                asyncCall.transfer = nil
                recycle(transfer)
                if delay > 0 { asyncCall.retryAt = Clock.monotonic() + delay }
            case .output(let output):
                guard output.isTerminal else {
                    if asyncCall.deliversEvents {
                        guard deliver(asyncCall, call.envelope(output), terminal: false) else {
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
    private func end(_ asyncCall: AsyncCall, with output: Call.Output) {
        if let transfer = asyncCall.transfer {
            asyncCall.transfer = nil
            if case .done = output, !transfer.isComplete {
                transfer.drainRest(maximumBytes: 64 * 1024)
                _ = hl_curl_easy_setopt_pointer(transfer.handle.easy, CURLOPT_PRIVATE, nil)
                draining.append((transfer, Clock.monotonic() + 1))
            } else {
                recycle(transfer)
            }
        }
        removeActive(asyncCall)
        guard let call = asyncCall.call else { return }
        let item = asyncCall.merged.map { $0.envelope(output, of: call) } ?? call.envelope(output)
        deliver(asyncCall, item, terminal: true)
    }

    private func removeActive(_ asyncCall: AsyncCall) {
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
    private func deliver(_ asyncCall: AsyncCall, _ item: [UInt8], terminal: Bool) -> Bool {
        let proceed = lock.withLock { () -> Bool in
            guard !asyncCall.isReleased, terminal || !asyncCall.cancelRequested else { return false }
            if terminal { asyncCall.isFinished = true }
            asyncCall.isDelivering = true
            return true
        }
        guard proceed else { return false }
        asyncCall.sink(item, terminal)
        return lock.withLock { () -> Bool in
            asyncCall.isDelivering = false
            if asyncCall.isReleased { pthread_cond_broadcast(delivered) }
            return !asyncCall.isReleased && !asyncCall.cancelRequested
        }
    }

    /// Detaches a transfer and keeps its handle for the next one (its connection stays in the
    /// multi handle's cache when the exchange ended cleanly).
    private func recycle(_ transfer: Transfer) {
        guard let handle = transfer.releaseHandle() else { return }
        _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_PRIVATE, nil)
        if idleHandles.count < Self.maximumIdle { idleHandles.append(handle) }
    }

    /// How long to wait for network activity: until the next retry, the next stall check while
    /// transfers run, at most 1 s (libcurl shortens it for its own timeouts).
    private func nextWaitMilliseconds() -> Int32 {
        var wait = 1.0
        let now = Clock.monotonic()
        for asyncCall in active {
            if let at = asyncCall.retryAt { wait = min(wait, at - now) } else { wait = min(wait, Self.stallCheckInterval) }
        }
        if !draining.isEmpty { wait = min(wait, Self.stallCheckInterval) }
        return Int32(max(0, (wait * 1000).rounded(.up)))
    }

    private func failAll(_ message: String) {
        while let asyncCall = active.last {
            end(asyncCall, with: .failure(.connectionError(message)))
        }
    }

    /// The client was freed: every call still running ends as cancelled, and so does every call
    /// started meanwhile (a callback may start one while its own call is being cancelled); then
    /// everything of libcurl is cleaned up on this thread.
    private func shutDown() {
        endActiveCalls()
        while true {
            let queued = lock.withLock { () -> [Command] in
                defer { commands.removeAll() }
                return commands
            }
            if queued.isEmpty { break }
            for case .start(let asyncCall) in queued {
                guard let call = asyncCall.call else {
                    deliver(asyncCall, asyncCall.startFailure ?? [], terminal: true)
                    continue
                }
                deliver(asyncCall, call.envelope(.failure(.cancelled("the call was cancelled: its client was freed"))), terminal: true)
            }
        }
        for entry in draining { _ = entry.transfer.releaseHandle() }
        draining.removeAll()
        idleHandles.removeAll()
        lock.withLock { isShutDown = true }
        if let multi { curl_multi_cleanup(multi) }
    }

    /// Ends every call in flight as cancelled ("its client was freed").
    private func endActiveCalls() {
        while let asyncCall = active.last {
            guard let call = asyncCall.call else {
                removeActive(asyncCall)
                continue
            }
            let output: Call.Output
            if case .failure(.cancelled(let message)) = call.cancelledOutput(during: asyncCall.transfer) {
                output = .failure(.cancelled(message + ": its client was freed"))
            } else {
                output = .failure(.cancelled("the call was cancelled: its client was freed"))
            }
            end(asyncCall, with: output)
        }
    }
}
