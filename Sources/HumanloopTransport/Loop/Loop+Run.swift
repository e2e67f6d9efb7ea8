#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl
import HumanloopCore

// The thread that runs the loop: one step (commands, the wait for readiness, libcurl's
// sockets and timer) and the deadlines that bound the wait.
extension Loop {
    /// An engine's thread: runs the loop until it is stopped.
    func runThread() {
        lock.withLock { engineThread = pthread_self() }
        while true {
            if lock.withLock({ stopRequested }) { return shutDown() }
            step(waitMilliseconds: -1)
        }
    }

    /// Runs what is ready (commands, sockets, timers, the calls' progress), waiting up to
    /// `timeoutMilliseconds` (-1: no limit, 0: never) when nothing is. Items go to the calls'
    /// sinks as they come. One thread at a time; never in a process other than the loop's.
    /// Returns false when the run ended because of `wake` or the loop cannot run (shut down,
    /// another process): a caller that runs it again until an item comes stops then.
    @discardableResult
    public func run(timeoutMilliseconds: Int32) -> Bool {
        guard multi != nil, process == Process.current, !lock.withLock({ isShutDown || stopRequested }) else { return false }
        return !step(waitMilliseconds: timeoutMilliseconds)
    }

    /// Runs steps until `isDone()` (checked after each), `timeoutMilliseconds` (-1: no limit)
    /// passes, or the run is woken (`wake`) or cannot go on (see `run(timeoutMilliseconds:)`).
    public func run(timeoutMilliseconds: Int32, until isDone: () -> Bool) {
        let deadline = timeoutMilliseconds < 0 ? Double.infinity : Clock.monotonic() + Double(timeoutMilliseconds) / 1000
        while true {
            let left = deadline == .infinity ? -1 : Int32(clamping: Int64(max(0, ((deadline - Clock.monotonic()) * 1000).rounded(.up))))
            let goOn = run(timeoutMilliseconds: left)
            if isDone() || !goOn || left == 0 { return }
        }
    }

    /// One step: the commands, then a wait for readiness (outside the fork gate: nothing of
    /// libcurl runs while the loop waits), then the sockets, timers and calls that are ready.
    /// Queues filled by either part are notified at the end of that part (`QueueNotices`), never
    /// after the wait.
    /// Returns true when `wake` was called since the last step.
    @discardableResult
    func step(waitMilliseconds: Int32) -> Bool {
        let (queued, woken, byHost) = lock.withLock { () -> ([Command], Bool, Bool) in
            defer {
                signalled = false
                hostWoken = false
                commands.removeAll(keepingCapacity: true)
            }
            return (commands, signalled, hostWoken)
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
        return byHost
    }

    /// libcurl's part of a step: the ready sockets, its timer, the finished transfers, the calls.
    func act(onReady ready: [Int32], flags: [Int32], count: Int) {
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
    func curlWaitMilliseconds() -> Int32 {
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

    func handle(_ command: Command) {
        switch command {
        case .start(let asyncCall):
            guard asyncCall.call != nil else {
                deliver(asyncCall, asyncCall.failureResult(.connectionError("the call has no request")), terminal: true)
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
    func readMessages() {
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
    func progressAll() {
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


    /// When the loop has something of its own to do (monotonic seconds): the next retry, the
    /// next stall check while transfers run or drain; nil for nothing (libcurl's deadlines are
    /// separate). Absolute, so that the timerfd is set again only when it changes.
    func nextOwnDeadline() -> Double? {
        guard !active.isEmpty || !draining.isEmpty else { return nil }
        let stallCheck = lastStallCheck + Self.stallCheckInterval
        var deadline = draining.isEmpty ? Double.infinity : stallCheck
        for asyncCall in active {
            deadline = min(deadline, asyncCall.retryAt ?? stallCheck)
            // A call waiting for a draining connection (not one whose wait is over: that would
            // be a deadline in the past, a busy loop until its retry).
            if asyncCall.transfer == nil, let end = asyncCall.drainWaitEnd, end.isFinite { deadline = min(deadline, end) }
        }
        return deadline
    }

    /// How long until `nextOwnDeadline` (milliseconds, rounded up); `Int32.max` for none.
    func nextWaitMilliseconds() -> Int32 {
        guard let deadline = nextOwnDeadline() else { return Int32.max }
        return Int32(max(0, min(Double(Int32.max - 1), ((deadline - Clock.monotonic()) * 1000).rounded(.up))))
    }
}
