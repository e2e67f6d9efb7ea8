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
    let multi: UnsafeMutableRawPointer?
    /// The epoll, timer and event descriptors (C: struct epoll_event is packed).
    let fds: UnsafeMutablePointer<hl_loop_fds>
    /// Why the loop could not be set up (errno of its descriptors; 0: libcurl, or none).
    let setupErrno: Int32
    var commands: [Command] = []  // guarded by lock
    /// The eventfd was written since the queue was last taken (guarded by lock).
    var signalled = false
    /// `wake` was called since the last step took the commands (guarded by lock): ends a `run`.
    var hostWoken = false
    var stopRequested = false  // guarded by lock
    var threadStarted = false  // guarded by lock
    var engineThread: pthread_t?  // guarded by lock
    /// Set (under lock) once the multi handle is cleaned up: no wake-up may reach it then.
    var isShutDown = false  // guarded by lock
    var thread = pthread_t()
    /// Signalled (with `lock`) whenever a delivery ends, for `waitUntilDelivered`.
    let delivered: UnsafeMutablePointer<pthread_cond_t> = {
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        return condition
    }()

    // The engine thread's:
    var active: [AsyncCall] = []
    /// Finished streams read to their end so that their connections stay open: closed at
    /// `deadline`; new attempts wait for them until `graceEnd` (see `waitsForDrain`).
    var draining: [(transfer: Transfer, deadline: Double, graceEnd: Double)] = []
    var idleHandles: [CurlHandle] = []
    var lastStallCheck = 0.0

    /// The most idle easy handles kept.
    static let maximumIdle = 1024
    /// How long a new attempt waits at most for a stream that just ended to free its
    /// connection (seconds): servers often end the body a moment after `[DONE]`.
    static let drainGrace = 0.05
    /// How often the low_speed_timeout of running transfers is checked (seconds).
    static let stallCheckInterval = 0.25

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
    static let abandonedLock = Lock()

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
                deliver(asyncCall, call.result(.failure(.cancelled("the call was cancelled: its loop was freed"))), terminal: true)
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
            hostWoken = true
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
    func failUnusable(_ asyncCall: AsyncCall) {
        deliver(asyncCall, asyncCall.failureResult(setupFailure), terminal: true)
    }

    /// Blocks until `asyncCall` is not being delivered (its sink returned). Not on the engine thread.
    func waitUntilDelivered(_ asyncCall: AsyncCall) {
        lock.withLock {
            while asyncCall.isDelivering { lock.wait(on: delivered) }
        }
    }

    func startThread() {
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
                deliver(asyncCall, asyncCall.failureResult(failure), terminal: true)
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
}
