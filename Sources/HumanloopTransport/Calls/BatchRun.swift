#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// One batch of calls on the client's engine (hl_batch, hl_batch_submit): at most
/// `concurrency` calls in flight, each request's result reported as it finishes (with its
/// index), then a summary.
///
/// - **Cancellation** (`cancel`, any thread): the calls in flight are cancelled (their
///   "cancelled" results are still reported) and no more start; the summary counts what never
///   started.
/// - **Flow control** (`pause`): while paused (its queue is over its bound) no call starts.
/// - **Rate-aware** batches slow down on rate limits: a 429 (or a 503 with Retry-After) halves
///   the calls in flight (`RateWindow`, at most once per round-trip), successes grow them back
///   one by one; Retry-After holds the start of every new call until then; the request goes back
///   to the batch's queue instead of failing, up to `maximumRequeues` times. Their calls do not
///   retry 429 themselves.
///
/// `report` runs on the engine thread (and, for the summary of a batch cancelled with nothing
/// in flight, on the cancelling thread), never for two items at once.
public final class BatchRun: QueueProducer, @unchecked Sendable {
    /// What a batch reports.
    public enum Report {
        /// The result of the request at `index`.
        case result(index: Int, result: CallResult)
        /// The end: every request reported (or never started, after a cancellation).
        case finished(Summary)
    }

    /// The counts of a finished batch.
    public struct Summary {
        public var done = 0
        public var failed = 0
        public var cancelled = 0
        public var notStarted = 0

    }

    /// How often a rate-limited request goes back to the queue before it fails.
    static let maximumRequeues = 10

    private let client: TransportClient
    private let items: [Result<BatchRequest.Item, CallError>]
    private let isRateAware: Bool
    private let report: (Report) -> Void
    private let lock = Lock()
    // Guarded by lock:
    /// Indices waiting to start, the next at the end (requeued ones go to the end too).
    private var waiting: [Int]
    private var inFlight: [Int: AsyncCall] = [:]
    private var requeues: [Int: Int] = [:]
    private var window: RateWindow
    private var holdUntil = 0.0
    private var summary = Summary()
    private var isCancelled = false
    private var isPaused = false
    private var isReleased = false
    private var isFinished = false

    /// A batch of `batch`'s requests; nothing runs before `start`.
    public init(client: TransportClient, batch: BatchRequest, report: @escaping (Report) -> Void) {
        self.client = client
        items = batch.items
        isRateAware = batch.isRateAware
        self.report = report
        waiting = Array((0..<batch.items.count).reversed())
        window = RateWindow(ceiling: batch.concurrency)
    }

    /// Starts the first calls (an empty batch reports its summary at once).
    public func start() {
        startReady()
        finishIfDone()
    }

    public var isReleasedNow: Bool { lock.withLock { isReleased } }

    /// Cancels the calls in flight and starts no more. Any thread, idempotent.
    public func cancel() {
        let calls = lock.withLock { () -> [AsyncCall] in
            isCancelled = true
            return Array(inFlight.values)
        }
        for call in calls { call.cancel() }
        finishIfDone()
    }

    /// Nothing is reported once this returns (the calls in flight are cancelled).
    public func release() {
        lock.withLock { isReleased = true }
        cancel()
    }

    public func pause(_ paused: Bool) {
        lock.withLock { isPaused = paused }
        if !paused { startReady() }
    }

    /// Starts calls while the window and the pause allow; a call waits (in flight, not yet sent)
    /// for Retry-After and for its turn under the pace of a rate-limited batch.
    private func startReady() {
        let now = Clock.monotonic()
        let ready = lock.withLock { () -> [(Int, AsyncCall)] in
            var ready: [(Int, AsyncCall)] = []
            let limit = isRateAware ? window.limit : window.ceiling
            while !isCancelled && !isPaused && inFlight.count < limit, let index = waiting.popLast() {
                let call = makeCall(index)
                let start = isRateAware ? window.nextStart(now: max(now, holdUntil)) : holdUntil
                if start > now { call.retryAt = start }
                inFlight[index] = call
                ready.append((index, call))
            }
            return ready
        }
        for (_, call) in ready { call.start() }
    }

    private func makeCall(_ index: Int) -> AsyncCall {
        let engine = client.engines.current
        let sink: ItemSink = { [self] item, isTerminal in
            if isTerminal { finished(index, result: item) }
        }
        switch items[index] {
        case .success(let item):
            let call = client.call(item.request, options: item.options)
            if isRateAware { call.policy.retry.retriesRateLimits = false }
            return AsyncCall(engine: engine, call: call, deliversEvents: false, sink: sink)
        case .failure(let error):
            return AsyncCall(engine: engine, failure: .failure(error, attempts: 0, secrets: client.secrets), sink: sink)
        }
    }

    /// The call of request `index` ended with `result`.
    private func finished(_ index: Int, result: CallResult) {
        let outcome = BatchOutcome(result)
        let now = Clock.monotonic()
        let (reported, released) = lock.withLock { () -> (Bool, Bool) in
            inFlight[index] = nil
            if isRateAware, let limited = outcome.rateLimit {
                window.rateLimited(now: now, roundTrip: limited.roundTrip)
                if let delay = limited.retryAfter { holdUntil = max(holdUntil, now + delay) }
                if !isCancelled, requeues[index, default: 0] < Self.maximumRequeues {
                    requeues[index, default: 0] += 1
                    waiting.append(index)
                    return (false, isReleased)
                }
            } else if outcome.isSuccess {
                window.succeeded(now: now)
            }
            switch outcome {
            case .success: summary.done += 1
            case .cancelled: summary.cancelled += 1
            case .failure: summary.failed += 1
            }
            return (true, isReleased)
        }
        if reported && !released { report(.result(index: index, result: result)) }
        startReady()
        finishIfDone()
    }

    /// Reports the summary once nothing is in flight and nothing more will start.
    private func finishIfDone() {
        let done = lock.withLock { () -> Summary? in
            guard !isFinished, inFlight.isEmpty, waiting.isEmpty || isCancelled else { return nil }
            isFinished = true
            summary.notStarted = waiting.count
            return isReleased ? nil : summary
        }
        if let done { report(.finished(done)) }
    }
}
