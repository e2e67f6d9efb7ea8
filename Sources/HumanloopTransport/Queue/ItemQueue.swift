#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl

/// A completion queue (hl_queue): the items of calls that the engine thread runs, for a host
/// without an event loop of its own (Go, C threads). The engine puts items on it; one consumer
/// takes them (`drain`), waiting with `wait` or by polling `fd`.
///
/// The fd (an eventfd) is signalled only when the queue goes from empty to non-empty and reset
/// only by a drain that leaves it empty, so it suits level- and edge-triggered pollers alike.
/// Items a loop's step puts on the queue are announced once, at the end of the step
/// (`QueueNotices`): the consumer wakes once per step, not once per item.
/// Memory is bounded: while the queue holds more than `maxPendingBytes`, the streams delivering
/// to it are paused (`AsyncCall.pause`) and resumed as the consumer drains; nothing is dropped.
public final class ItemQueue: @unchecked Sendable {
    /// One item: its call's handle and tag, and its envelope (all the C ABI's: it encodes the item).
    public struct Item {
        public let call: OpaquePointer?
        public let tag: UnsafeMutableRawPointer?
        /// The call or batch that delivered it (flow control, and its release).
        public let producer: QueueProducer?
        public let isTerminal: Bool
        public let json: [UInt8]

        public init(call: OpaquePointer?, tag: UnsafeMutableRawPointer?, producer: QueueProducer?, isTerminal: Bool, json: [UInt8]) {
            self.call = call
            self.tag = tag
            self.producer = producer
            self.isTerminal = isTerminal
            self.json = json
        }
    }

    /// The default bound of pending bytes (16 MiB).
    public static let defaultMaxPendingBytes = 16 * 1024 * 1024

    /// The process that made the queue (its eventfd is shared with children otherwise).
    public let process = Process.current
    public let fd: Int32
    public let maxPendingBytes: Int
    private let lock = Lock()
    private let changed: UnsafeMutablePointer<pthread_cond_t>
    private var items: [Item] = []  // guarded by lock
    private var taken = 0  // guarded by lock
    private var pendingBytes = 0  // guarded by lock
    private var woken = false  // guarded by lock
    /// The fd is signalled (and not reset since) (guarded by lock).
    private var fdSignalled = false
    /// A notification of the items pushed is scheduled for the end of a step (guarded by lock).
    private var noticeScheduled = false
    private var closed = false  // guarded by lock
    /// Streams paused because the queue was full, resumed once it drains below half.
    private var paused: [ObjectIdentifier: QueueProducer] = [:]  // guarded by lock
    /// The calls delivering to the queue that have not delivered their terminal item (weakly:
    /// a call freed early goes away by itself).
    private var running: [ObjectIdentifier: WeakCall] = [:]  // guarded by lock
    private var pruneAt = 64  // guarded by lock

    private final class WeakCall {
        weak var call: QueueProducer?
        init(_ call: QueueProducer) { self.call = call }
    }

    /// Records a call that delivers to this queue (cancelled by `close` if still running).
    public func register(_ asyncCall: QueueProducer) {
        let closedAlready = lock.withLock { () -> Bool in
            guard !closed else { return true }
            running[ObjectIdentifier(asyncCall)] = WeakCall(asyncCall)
            if running.count >= pruneAt {
                running = running.filter { $0.value.call != nil }
                pruneAt = Swift.max(64, running.count * 2)
            }
            return false
        }
        if closedAlready { asyncCall.cancel() }
    }

    /// A queue, or nil when its descriptor cannot be made.
    public init?(maxPendingBytes: Int = ItemQueue.defaultMaxPendingBytes) {
        fd = hl_queue_fd_open()
        guard fd >= 0 else { return nil }
        self.maxPendingBytes = max(1, maxPendingBytes)
        changed = .allocate(capacity: 1)
        changed.initialize(to: pthread_cond_t())
        pthread_cond_init(changed, nil)
    }

    deinit {
        Glibc.close(fd)
        pthread_cond_destroy(changed)
        changed.deallocate()
    }

    /// Puts an item on the queue (the engine thread, inside a call's sink); pauses its stream
    /// when the queue is over its bound. Nothing once the queue is closed.
    public func push(_ item: Item) {
        let (announce, pause) = lock.withLock { () -> (Bool, Bool) in
            guard !closed else { return (false, false) }
            items.append(item)
            pendingBytes += item.json.count
            let announce = !noticeScheduled
            noticeScheduled = true
            var pause = false
            if let asyncCall = item.producer, !item.isTerminal, pendingBytes > maxPendingBytes,
               paused.updateValue(asyncCall, forKey: ObjectIdentifier(asyncCall)) == nil {
                pause = true
            }
            if item.isTerminal, let asyncCall = item.producer {
                paused.removeValue(forKey: ObjectIdentifier(asyncCall))
                running.removeValue(forKey: ObjectIdentifier(asyncCall))
            }
            return (announce, pause)
        }
        if announce && !QueueNotices.schedule(self) { notify() }
        if pause { item.producer?.pause(true) }
    }

    /// Announces the items pushed since the last notification: wakes `wait`, and signals the fd
    /// when the queue is not empty and the fd not signalled yet.
    func notify() {
        let signal = lock.withLock { () -> Bool in
            noticeScheduled = false
            guard taken < items.count else { return false }
            pthread_cond_broadcast(changed)
            defer { fdSignalled = true }
            return !fdSignalled
        }
        if signal && process == Process.current { hl_queue_fd_signal(fd) }
    }

    /// Takes up to `max` items (never blocks); the items of released calls are skipped. Resumes
    /// the paused streams once the queue holds less than half its bound.
    public func drain(max: Int) -> [Item] {
        var resumed: [QueueProducer] = []
        let result = lock.withLock { () -> [Item] in
            var out: [Item] = []
            while out.count < max && taken < items.count {
                let item = items[taken]
                taken += 1
                pendingBytes -= item.json.count
                out.append(item)
            }
            if taken >= items.count {
                items.removeAll(keepingCapacity: true)
                taken = 0
                if process == Process.current && fdSignalled { hl_queue_fd_reset(fd) }
                fdSignalled = false
            } else if taken >= 1024 && taken * 2 >= items.count {
                items.removeFirst(taken)
                taken = 0
            }
            if pendingBytes * 2 <= maxPendingBytes && !paused.isEmpty {
                resumed = Array(paused.values)
                paused.removeAll()
            }
            woken = false
            return out
        }
        for asyncCall in resumed { asyncCall.pause(false) }
        return result.filter { !($0.producer?.isReleasedNow ?? false) }
    }

    /// Blocks until an item is pending (true), `timeoutMilliseconds` passed (false; negative:
    /// no limit) or `wake` was called (true when an item is pending then).
    public func wait(timeoutMilliseconds: Int32) -> Bool {
        let deadline = timeoutMilliseconds < 0 ? Double.infinity : Clock.monotonic() + Double(timeoutMilliseconds) / 1000
        return lock.withLock { () -> Bool in
            while taken >= items.count && !woken && !closed {
                let left = deadline - Clock.monotonic()
                guard left > 0 else { return false }
                lock.wait(on: changed, seconds: min(left, 1))
            }
            woken = false
            return taken < items.count
        }
    }

    /// Ends a `wait` in another thread and makes `fd` readable.
    public func wake() {
        lock.withLock {
            woken = true
            fdSignalled = true
            pthread_cond_broadcast(changed)
        }
        if process == Process.current { hl_queue_fd_signal(fd) }
    }

    /// hl_queue_free: the calls still delivering to the queue are cancelled, no item is put on
    /// it any more and pending ones are dropped. (Their sinks keep this object alive, so the
    /// engine never touches freed memory.)
    public func close() {
        let calls = lock.withLock { () -> [QueueProducer] in
            closed = true
            items.removeAll()
            taken = 0
            pendingBytes = 0
            paused.removeAll()
            pthread_cond_broadcast(changed)
            defer { running.removeAll() }
            return running.values.compactMap { $0.call }
        }
        for asyncCall in calls { asyncCall.cancel() }
    }
}
