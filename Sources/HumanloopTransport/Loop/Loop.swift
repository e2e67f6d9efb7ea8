#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl
import HumanloopCore

/// The library's one driver of asynchronous calls: a private libcurl multi handle whose calls
/// make progress only inside `run`, driven by whoever runs it — its own thread (the engine of a
/// client: `hl_call_start`, batches) or the host (`hl_loop_run`, from an event loop such as
/// asyncio's). No thread per call, thousands of calls in flight, HTTP/2 multiplexing where the
/// server offers it.
///
/// Readiness is one file descriptor (`fd`, an epoll set): libcurl's sockets (its socket
/// callback), a timerfd (libcurl's timer and the loop's own deadlines: retries, stall checks)
/// and an eventfd (commands from other threads). Other threads reach the loop through `send` (a
/// command queue plus the eventfd); everything else (the multi handle, the transfers, the calls'
/// progress) belongs to the thread inside `run`. An engine loop starts its thread on the first
/// command and is stopped by `stop`.
public final class Loop: @unchecked Sendable {
    enum Command {
        case start(AsyncCall)
        case cancel(AsyncCall)
        case pause(AsyncCall, Bool)
    }

    /// Guards the command queue and the calls' shared state (`AsyncCall`).
    let lock = Lock()
    /// The process that made the loop: its thread, descriptors and connections exist only there.
    let process = Process.current
    /// True for a client's engine (runs on a thread of its own); false for a host's loop.
    let ownsThread: Bool
    /// The client's cap on connections, shared by all its loops.
    let budget: ConnectionBudget
    private let multi: UnsafeMutableRawPointer?
    /// The epoll, timer and event descriptors (C: struct epoll_event is packed).
    private let fds: UnsafeMutablePointer<hl_loop_fds>
    /// Why the loop could not be set up (errno of its descriptors; 0: libcurl, or none).
    private let setupErrno: Int32
    private var commands: [Command] = []  // guarded by lock
    /// The eventfd was written since the queue was last taken (guarded by lock).
    private var signalled = false
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

    /// A loop with at most `maxConnections` connections; `ownsThread`: a client's engine.
    /// `isUsable` is false when libcurl or the descriptors could not be set up (every call then
    /// fails at once).
    init(maxConnections: Int, ownsThread: Bool, budget: ConnectionBudget) {
        self.ownsThread = ownsThread
        self.budget = budget
        fds = .allocate(capacity: 1)
        fds.initialize(to: hl_loop_fds(epoll: -1, timer: -1, event: -1, curl_deadline_ns: -1, armed_ns: -1, multi: nil))
        let opened = hl_loop_fds_open(fds) == 0
        setupErrno = opened ? 0 : errno
        multi = ForkGate.shared.inside { [fds] () -> UnsafeMutableRawPointer? in
            guard CurlRuntime.isInitialized && opened, let multi = curl_multi_init() else { return nil }
            _ = hl_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnections)
            _ = hl_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnections)
            _ = hl_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
            guard hl_loop_attach(multi, fds) == CURLM_OK else {
                curl_multi_cleanup(multi)
                return nil
            }
            return multi
        }
    }

    deinit {
        // A loop of this process that was never shut down (never started, or a host's loop
        // freed without running) is cleaned up here; one of another process (inherited through
        // fork(), freed by the host: see `abandon` for the library's own) only closes its copies
        // of the descriptors: the epoll set and the connections are the parent's.
        if let multi, process == Process.current, !lock.withLock({ isShutDown }) {
            ForkGate.shared.inside {
                for entry in draining { _ = entry.transfer.releaseHandle() }
                draining.removeAll()
                idleHandles.removeAll()
                curl_multi_cleanup(multi)
            }
        }
        hl_loop_fds_close(fds)
        fds.deallocate()
        pthread_cond_destroy(delivered)
        delivered.deallocate()
    }

    /// Loops inherited through fork(): kept, never cleaned up or run — libcurl's state may be in
    /// the middle of a step of a thread that does not exist here, and the descriptors and
    /// connections are the parent's — so nothing of them runs in this process.
    nonisolated(unsafe) private static var abandoned: [Loop] = []
    private static let abandonedLock = Lock()

    /// Keeps `loop` (of another process) for good. Not while holding a lock of the library.
    static func abandon(_ loop: Loop) {
        abandonedLock.withLock { abandoned.append(loop) }
    }

    /// False when libcurl or the loop's descriptors could not be set up.
    public var isUsable: Bool { multi != nil }

    /// The descriptor that is readable whenever `run` has work (hl_loop_fd).
    public var fd: Int32 { fds.pointee.epoll }

    /// True on the engine's own thread (inside a sink).
    var isEngineThread: Bool { lock.withLock { isEngineThreadLocked } }

    /// `isEngineThread` for a caller holding `lock`.
    var isEngineThreadLocked: Bool {
        guard let engineThread else { return false }
        return pthread_equal(engineThread, pthread_self()) != 0
    }

    /// Queues a command for the thread that runs the loop (an engine starts its thread if
    /// needed) and wakes it. The running thread itself is not woken: it looks at the queue
    /// before it waits.
    func send(_ command: Command) {
        // A loop of another process is never touched (its eventfd is the parent's too).
        guard process == Process.current else { return }
        guard multi != nil else {
            if case .start(let asyncCall) = command { failUnusable(asyncCall) }
            return
        }
        let (accepted, start, needsWake) = lock.withLock { () -> (Bool, Bool, Bool) in
            // A loop shut down runs nothing more (and keeps no call alive).
            guard !isShutDown else { return (false, false, false) }
            commands.append(command)
            // A signalled loop already has a wake-up on its way.
            let needsWake = !signalled && !isEngineThreadLocked
            if needsWake { signalled = true }
            guard ownsThread, !threadStarted && !stopRequested else { return (true, false, needsWake) }
            threadStarted = true
            return (true, true, needsWake)
        }
        guard accepted else {
            if case .start(let asyncCall) = command, let call = asyncCall.call {
                deliver(asyncCall, call.envelope(.failure(.cancelled("the call was cancelled: its loop was freed"))), terminal: true)
            }
            return
        }
        if start { startThread() }
        if needsWake { hl_loop_signal(fds) }
    }

    /// Queues the start of a call that the calling thread is about to run the loop for (a
    /// blocking call): nothing is woken, the next `run` takes it before it waits.
    func startInline(_ asyncCall: AsyncCall) {
        let accepted = lock.withLock { () -> Bool in
            guard !isShutDown, process == Process.current else { return false }
            commands.append(.start(asyncCall))
            return true
        }
        if !accepted { send(.start(asyncCall)) }
    }

    /// Makes `fd` readable and a `run` waiting in another thread return (hl_loop_wake).
    public func wake() {
        guard process == Process.current else { return }
        lock.withLock {
            guard !isShutDown else { return }
            signalled = true
        }
        hl_loop_signal(fds)
    }

    /// Why a loop that is not usable could not be set up: no descriptor free, or no memory.
    var setupFailure: CallError {
        if DescriptorBudget.isExhaustion(errno: Int(setupErrno)) {
            return .connectionError(DescriptorBudget.tooManyOpenFiles("the library could not make its event loop"))
        }
        return .connectionError("libcurl could not be set up for this call (out of memory)")
    }

    /// A call started on a loop that could not be set up ends at once.
    private func failUnusable(_ asyncCall: AsyncCall) {
        deliver(asyncCall, asyncCall.startFailure ?? asyncCall.call?.envelope(.failure(setupFailure)) ?? [], terminal: true)
    }

    /// Blocks until `asyncCall` is not being delivered (its sink returned). Not on the engine thread.
    func waitUntilDelivered(_ asyncCall: AsyncCall) {
        lock.withLock {
            while asyncCall.isDelivering { lock.wait(on: delivered) }
        }
    }

    private func startThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 1 << 20)
        let created = pthread_create(&thread, &attributes, { context in
            guard let context else { return nil }
            let loop = Unmanaged<Loop>.fromOpaque(context).takeRetainedValue()
            loop.runThread()
            return nil
        }, context)
        pthread_attr_destroy(&attributes)
        if created != 0 {
            Unmanaged<Loop>.fromOpaque(context).release()
            // No thread: the calls queued so far end at once with an error.
            let queued = lock.withLock { () -> [Command] in
                threadStarted = false
                stopRequested = true
                defer { commands.removeAll() }
                return commands
            }
            for case .start(let asyncCall) in queued {
                let failure = CallError.connectionError("the library could not start its engine thread")
                deliver(asyncCall, asyncCall.startFailure ?? asyncCall.call?.envelope(.failure(failure)) ?? [], terminal: true)
            }
        }
    }

    /// Engine: cancels every call in flight, delivers their terminal items and ends the thread
    /// (waiting for it, unless called on it). Host loop: the same, on the calling thread (which
    /// must be the only one running the loop; no `run` after this).
    public func stop() {
        let (started, onThread) = lock.withLock { () -> (Bool, Bool) in
            stopRequested = true
            return (threadStarted, isEngineThreadLocked)
        }
        guard ownsThread else {
            if multi != nil, process == Process.current, !lock.withLock({ isShutDown }) { shutDown() }
            return
        }
        guard started, multi != nil else { return }
        hl_loop_signal(fds)
        if onThread {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    // MARK: - The thread that runs the loop

    /// An engine's thread: runs the loop until it is stopped.
    private func runThread() {
        lock.withLock { engineThread = pthread_self() }
        while true {
            if lock.withLock({ stopRequested }) { return shutDown() }
            step(waitMilliseconds: -1)
        }
    }

    /// Runs what is ready (commands, sockets, timers, the calls' progress), waiting up to
    /// `timeoutMilliseconds` (-1: no limit, 0: never) when nothing is. Items go to the calls'
    /// sinks as they come. One thread at a time; never in a process other than the loop's.
    public func run(timeoutMilliseconds: Int32) {
        guard multi != nil, process == Process.current, !lock.withLock({ isShutDown || stopRequested }) else { return }
        step(waitMilliseconds: timeoutMilliseconds)
    }

    /// One step: the commands, then a wait for readiness (outside the fork gate: nothing of
    /// libcurl runs while the loop waits), then the sockets, timers and calls that are ready.
    /// Queues filled by either part are notified at the end of that part (`QueueNotices`), never
    /// after the wait.
    private func step(waitMilliseconds: Int32) {
        let (queued, woken) = lock.withLock { () -> ([Command], Bool) in
            defer {
                signalled = false
                commands.removeAll(keepingCapacity: true)
            }
            return (commands, signalled)
        }
        if !queued.isEmpty { QueueNotices.collecting { ForkGate.shared.inside { for command in queued { handle(command) } } } }
        // A wake-up (hl_loop_wake) ends this run without waiting; commands sent from inside a
        // sink (callbacks starting calls) wake nothing: they run now.
        let pending = woken || !queued.isEmpty || lock.withLock { !commands.isEmpty }
        let wait = pending ? 0 : min(waitMilliseconds < 0 ? Int32.max : waitMilliseconds, nextWaitMilliseconds(), curlWaitMilliseconds())
        var ready = [Int32](repeating: 0, count: 64)
        var flags = [Int32](repeating: 0, count: 64)
        let count = hl_loop_wait(fds, wait == Int32.max ? -1 : wait, &ready, &flags, 64)
        QueueNotices.collecting { ForkGate.shared.inside { act(onReady: ready, flags: flags, count: Int(max(0, count))) } }
    }

    /// libcurl's part of a step: the ready sockets, its timer, the finished transfers, the calls.
    private func act(onReady ready: [Int32], flags: [Int32], count: Int) {
        guard let multi else { return }
        var running: Int32 = 0
        for index in 0..<count {
            let acted = curl_multi_socket_action(multi, curl_socket_t(ready[index]), flags[index], &running)
            if acted != CURLM_OK { failAll("libcurl's multi interface failed: \(String(cString: curl_multi_strerror(acted)))") }
        }
        let deadline = fds.pointee.curl_deadline_ns
        if deadline >= 0 && hl_monotonic_ns() >= deadline {
            fds.pointee.curl_deadline_ns = -1
            let acted = curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
            if acted != CURLM_OK { failAll("libcurl's multi interface failed: \(String(cString: curl_multi_strerror(acted)))") }
        }
        readMessages()
        progressAll()
    }

    /// How long until libcurl's deadline (milliseconds, rounded up); `Int32.max` for none.
    private func curlWaitMilliseconds() -> Int32 {
        let deadline = fds.pointee.curl_deadline_ns
        guard deadline >= 0 else { return Int32.max }
        return Int32(clamping: max(0, (deadline - hl_monotonic_ns() + 999_999) / 1_000_000))
    }

    /// True while a finished stream's connection is being read to its end (see `end`).
    var isDraining: Bool { !draining.isEmpty }

    /// Runs the loop until its finished streams are read to their end, at most until `deadline`
    /// (monotonic seconds); what is still draining then is closed. The thread that runs the loop.
    func finishDraining(until deadline: Double) {
        while !draining.isEmpty, process == Process.current {
            let left = deadline - Clock.monotonic()
            guard left > 0 else { break }
            step(waitMilliseconds: Int32(min(1000, (left * 1000).rounded(.up))))
        }
        for entry in draining { recycle(entry.transfer) }
        draining.removeAll()
    }

    /// Arms the timerfd for the earliest of libcurl's deadline and the loop's own, so that a host
    /// polling `fd` runs the loop in time (the loop's own runs pass the deadlines to their wait
    /// instead). After each `run` of a host.
    public func armTimerForHost() {
        guard multi != nil, process == Process.current else { return }
        var deadline = fds.pointee.curl_deadline_ns
        if let own = nextOwnDeadline() {
            // Clock.monotonic() and hl_monotonic_ns() read the same clock (CLOCK_MONOTONIC).
            let ownDeadline = Int64(min(own * 1e9, 9e18))
            deadline = deadline < 0 ? ownDeadline : min(deadline, ownDeadline)
        }
        hl_loop_arm(fds, deadline)
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
        case .pause(let asyncCall, let paused):
            guard asyncCall.activeIndex >= 0, asyncCall.paused != paused else { return }
            asyncCall.paused = paused
            asyncCall.transfer?.setPaused(paused)
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
            if checkStalls && !asyncCall.paused { asyncCall.transfer?.checkStall(now: now) }
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
            budget.release()
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
    private func recycle(_ transfer: Transfer) {
        guard let handle = transfer.releaseHandle() else { return }
        _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_PRIVATE, nil)
        if idleHandles.count < Self.maximumIdle { idleHandles.append(handle) }
    }

    /// When the loop has something of its own to do (monotonic seconds): the next retry, the
    /// next stall check while transfers run or drain; nil for nothing (libcurl's deadlines are
    /// separate). Absolute, so that the timerfd is set again only when it changes.
    private func nextOwnDeadline() -> Double? {
        guard !active.isEmpty || !draining.isEmpty else { return nil }
        let stallCheck = lastStallCheck + Self.stallCheckInterval
        var deadline = draining.isEmpty ? Double.infinity : stallCheck
        for asyncCall in active {
            deadline = min(deadline, asyncCall.retryAt ?? stallCheck)
        }
        return deadline
    }

    /// How long until `nextOwnDeadline` (milliseconds, rounded up); `Int32.max` for none.
    private func nextWaitMilliseconds() -> Int32 {
        guard let deadline = nextOwnDeadline() else { return Int32.max }
        return Int32(max(0, min(Double(Int32.max - 1), ((deadline - Clock.monotonic()) * 1000).rounded(.up))))
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
        ForkGate.shared.inside { shutDownInside() }
    }

    private func shutDownInside() {
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
