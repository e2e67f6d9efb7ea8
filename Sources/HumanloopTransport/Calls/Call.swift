import HumanloopCore

/// One call's attempts: the one implementation of the attempt loop (retries, redirects,
/// results) for every path. A driver runs the transfers it asks for and reports their progress:
/// `InlineCall` on the caller's thread, `Loop` on the engine's thread or the host's.
///
/// Not thread-safe: used by one driver at a time.
final class Call {
    /// What a call produces.
    enum Output {
        /// A server event (stream mode): its exact bytes (checked to be one JSON object), with
        /// the answer's head for the first event.
        case event(raw: [UInt8], head: ResponseHead?)
        /// The stream ended cleanly (terminal).
        case done(ResponseHead, roundTripTime: Double, timings: PhaseTimings)
        /// A complete 2xx answer with its body (terminal, buffered mode).
        case response(ResponseHead, body: [UInt8], roundTripTime: Double, timings: PhaseTimings)
        /// The call failed (terminal).
        case failure(CallError)

        var isTerminal: Bool {
            if case .event = self { return false }
            return true
        }
    }

    /// What the driver does next.
    enum Step {
        /// Deliver this output; after a terminal one the call is over (a `.done` transfer may be
        /// drained for its connection, see `Transfer.drainRest`).
        case output(Output)
        /// Release the transfer and start the next attempt after this many seconds.
        case retry(after: Double)
        /// Nothing to do until the transfer makes progress.
        case wait
    }

    /// What the call's attempts follow (settings, retries, redirects, URL, log, secrets).
    var policy: AttemptPolicy
    let request: PreparedRequest
    let mode: ResponseCollector.BodyMode
    /// Attempts counted so far. An attempt counts once its request went out: when its outcome
    /// is decided (retried or final), or when it is cancelled after sending. One that waited for
    /// a connection or a descriptor and never left, and a redirect followed, never count.
    private(set) var attempts = 0
    /// The attempt in progress was counted already (an event of it arrived).
    private var attemptCounted = false
    private var redirects = 0
    private(set) var url: String
    /// Events delivered so far.
    private(set) var eventCount = 0
    /// The client's secrets and the request's own provider keys (made when first needed: for a
    /// failure or a log line).
    private(set) lazy var secrets = policy.secrets.adding(request.secrets)
    /// When the first attempt started: a call that finds no free descriptor waits for one until
    /// its `timeout` after that.
    private var firstAttemptTime: Double?
    /// How often a call waiting for a descriptor tries again (seconds).
    private static let descriptorWaitInterval = 0.05
    /// The outcome of the current transfer once it completed, before its items were all taken.
    private var completedOutcome: TransferOutcome?

    init(policy: AttemptPolicy, request: PreparedRequest) {
        self.policy = policy
        self.request = request
        mode = request.isStream ? .eventStream : .buffer
        url = policy.url
    }

    /// The transfer settings of the call.
    var settings: TransportSettings { policy.settings }
    /// The client's secrets alone.
    var clientSecrets: Secrets { policy.secrets }

    /// The number of the attempt in progress (or of the next one).
    private var attemptNumber: Int { attemptCounted ? attempts : attempts + 1 }

    /// Counts the attempt in progress (once).
    private func countAttempt() {
        guard !attemptCounted else { return }
        attempts += 1
        attemptCounted = true
    }

    /// When the call began to wait for a free connection of its client (max_connections), if it
    /// had to before its first attempt.
    private var connectionWaitStart: Double?

    /// A call that finds every connection of its client in use waits (not an attempt) until its
    /// `timeout` after its first attempt (or after it began to wait): nil while it may wait on,
    /// else its terminal output.
    func connectionWaitFailure(now: Double) -> Output? {
        if connectionWaitStart == nil { connectionWaitStart = now }
        guard let timeout = settings.timeoutSeconds, let start = firstAttemptTime ?? connectionWaitStart,
              now - start >= timeout else { return nil }
        return .failure(.timeout("the request timed out after \(settings.timeoutText) s (timeout) waiting for a connection "
                                 + "(max_connections): nothing was sent"))
    }

    /// The transfer of the next attempt, on `handle` attached to `multi`.
    func startAttempt(handle: CurlHandle, multi: UnsafeMutableRawPointer) -> Transfer {
        if firstAttemptTime == nil { firstAttemptTime = Clock.monotonic() }
        attemptCounted = false
        completedOutcome = nil
        return Transfer(handle: handle, multi: multi, settings: settings, url: url, body: request.body, mode: mode)
    }

    /// The next step for `transfer` (the current attempt) after it made progress.
    func step(_ transfer: Transfer) -> Step {
        transfer.takeEarlyAnswer()
        if transfer.isComplete && completedOutcome == nil { completedOutcome = transfer.outcome() }
        if let item = transfer.collector.takeItem() {
            switch item {
            case .event(let raw):
                countAttempt()
                eventCount += 1
                return .output(.event(raw: raw, head: eventCount == 1 ? transfer.collector.head : nil))
            case .done:
                let head = transfer.collector.head
                countAttempt()
                policy.log.record(.response(head, body: []), of: transfer, request: request, attempt: attempts, url: url,
                                  decision: .finish, secrets: { self.secrets })
                return .output(.done(head, roundTripTime: transfer.elapsed, timings: transfer.timings))
            }
        }
        guard let outcome = completedOutcome else { return .wait }
        return conclude(outcome, of: transfer)
    }

    /// The terminal output for a completed transfer, or a retry.
    private func conclude(_ outcome: TransferOutcome, of transfer: Transfer) -> Step {
        if transfer.ranOutOfDescriptors,
           Clock.monotonic() - (firstAttemptTime ?? transfer.startTime) < settings.timeoutSeconds ?? .infinity {
            // Like a call beyond max_connections: it waits (not an attempt), its timeout running.
            return .retry(after: Self.descriptorWaitInterval)
        }
        switch policy.decide(after: outcome, of: transfer, request: request, attempt: attemptNumber, redirects: redirects, url: url,
                             beforeFirstEvent: eventCount == 0, secrets: { self.secrets }) {
        case .redirect(let target):
            redirects += 1
            url = target
            return .retry(after: 0)
        case .retry(let delay):
            countAttempt()
            return .retry(after: delay)
        case .finish:
            // An attempt that never left the queue for a connection is not an attempt.
            if case .failure = outcome, transfer.timedOutInQueue { break }
            countAttempt()
        }
        switch outcome {
        case .response(let head, let body) where (200...299).contains(head.status):
            if mode == .eventStream {
                return .output(.done(head, roundTripTime: transfer.elapsed, timings: transfer.timings))
            }
            return .output(.response(head, body: body, roundTripTime: transfer.elapsed, timings: transfer.timings))
        case .response(let head, let body):
            return .output(.failure(.apiError(head, body: body, roundTripTime: transfer.elapsed, url: url)))
        case .failure(let error, _):
            let events = "\(eventCount) event\(eventCount == 1 ? "" : "s")"
            if mode == .eventStream && (eventCount > 0 || transfer.collector.receivedHead) {
                switch error {
                case .connectionError(let message):
                    return .output(.failure(.connectionError("the stream broke after \(events): \(message)")))
                case .timeout(let message):
                    return .output(.failure(.timeout("the stream stopped after \(events): \(message)")))
                default:
                    break
                }
            }
            return .output(.failure(error))
        }
    }

    /// The terminal output of a call cancelled before it ended; `transfer` is the attempt in
    /// progress (see `interruptedOutput`).
    func cancelledOutput(during transfer: Transfer?) -> Output {
        let events = mode == .eventStream ? " after \(eventCount) event\(eventCount == 1 ? "" : "s")" : ""
        return interruptedOutput(.cancelled("the call was cancelled\(events)"), during: transfer)
    }

    /// The terminal output of a call ended by its driver with `error` while `transfer` (the
    /// attempt in progress, if any) ran: that attempt counts when its request was sent (not
    /// when it waited for a connection).
    func interruptedOutput(_ error: CallError, during transfer: Transfer?) -> Output {
        if let transfer, transfer.requestSent { countAttempt() }
        return .failure(error)
    }
}
