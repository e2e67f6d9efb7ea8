import HumanloopCore

/// An open streaming call. Driven by `nextOutput()` on the caller's thread (no extra thread);
/// closing it (or dropping it) ends the transfer and closes an unfinished connection.
///
/// Not thread-safe: one thread at a time.
public final class EventStream {
    /// One item of the stream.
    public enum Output {
        /// A server event: its exact bytes (checked to be one JSON object).
        case event(raw: [UInt8])
        /// The stream ended cleanly.
        case done(ResponseHead, roundTripTime: Double, timings: PhaseTimings)
        /// The stream failed; nothing follows.
        case failure(HumanloopError)
    }

    private let client: HumanloopClient
    private let request: PreparedRequest?
    private var pendingFailure: HumanloopError?
    private var transfer: Transfer?
    private var completedOutcome: TransferOutcome?
    private var finished = false
    private var url: String
    private var redirects = 0
    /// The process that opened the stream: it alone may read it.
    private let process = Process.current
    /// Attempts made so far (retries happen only before the first event).
    public private(set) var attempts = 0
    /// Events delivered so far.
    public private(set) var eventCount = 0

    init(client: HumanloopClient, request: PreparedRequest) {
        self.client = client
        self.request = request
        url = client.url(of: request.endpoint)
    }

    init(client: HumanloopClient, failure: HumanloopError) {
        self.client = client
        request = nil
        pendingFailure = failure
        url = ""
    }

    deinit { close() }

    /// Ends the transfer (closing an unfinished connection). Later calls return nothing.
    public func close() {
        finished = true
        transfer?.release(to: client.pool)
        transfer = nil
    }

    /// The next item, blocking until it is available; nil after the terminal item.
    public func nextOutput() -> Output? {
        guard !finished else { return nil }
        if let failure = pendingFailure { return end(with: .failure(failure)) }
        guard process == Process.current else { return end(with: .failure(ForkGuard.crossedFork)) }
        guard let request else { return end(with: .failure(.connectionError("the stream has no request"))) }
        while true {
            if transfer == nil {
                attempts += 1
                completedOutcome = nil
                guard let started = Transfer(pool: client.pool, settings: client.settings, url: url, body: request.body,
                                             mode: .eventStream) else {
                    return end(with: .failure(.connectionError("libcurl could not create a transfer")))
                }
                transfer = started
            }
            guard let current = transfer else { continue }
            if current.isComplete && completedOutcome == nil { completedOutcome = current.outcome() }
            if let item = current.collector.takeItem() {
                switch item {
                case .event(let raw):
                    eventCount += 1
                    return .event(raw: raw)
                case .done:
                    let head = current.collector.head
                    client.logAttempt(.response(head, body: []), of: current, request: request, attempt: attempts, url: url,
                                      decision: .finish)
                    return end(with: .done(head, roundTripTime: current.elapsed, timings: current.timings))
                }
            }
            if let outcome = completedOutcome {
                if let output = conclude(outcome, of: current, request: request) { return output }
                continue
            }
            current.step(waitMilliseconds: 1000)
        }
    }

    /// The terminal item for a completed transfer, or nil when a new attempt was started.
    private func conclude(_ outcome: TransferOutcome, of current: Transfer, request: PreparedRequest) -> Output? {
        switch client.decide(after: outcome, of: current, request: request, attempt: attempts, redirects: redirects, url: url,
                             beforeFirstEvent: eventCount == 0) {
        case .redirect(let target):
            redirects += 1
            attempts -= 1
            url = target
            restart()
            return nil
        case .retry(let delay):
            restart()
            Clock.sleep(seconds: delay)
            return nil
        case .finish:
            break
        }
        switch outcome {
        case .response(let head, _) where (200...299).contains(head.status):
            return end(with: .done(head, roundTripTime: current.elapsed, timings: current.timings))
        case .response(let head, let body):
            return end(with: .failure(.apiError(head, body: body, roundTripTime: current.elapsed, url: url)))
        case .failure(let error, _):
            let events = "\(eventCount) event\(eventCount == 1 ? "" : "s")"
            if eventCount > 0 || current.collector.receivedHead {
                switch error {
                case .connectionError(let message):
                    return end(with: .failure(.connectionError("the stream broke after \(events): \(message)")))
                case .timeout(let message):
                    return end(with: .failure(.timeout("the stream stopped after \(events): \(message)")))
                default:
                    break
                }
            }
            return end(with: .failure(error))
        }
    }

    private func restart() {
        transfer?.release(to: client.pool)
        transfer = nil
    }

    private func end(with output: Output) -> Output {
        close()
        return output
    }

    /// The next item as an envelope (JSON bytes), or nil after the terminal item.
    public func nextEnvelope() -> [UInt8]? {
        guard let output = nextOutput() else { return nil }
        switch output {
        case .event(let raw):
            return Envelope.streamEvent(rawJSON: raw)
        case .done(let head, let roundTripTime, _):
            return client.encode(Envelope.streamDone(head: head, roundTripTime: roundTripTime, attempts: attempts,
                                                     eventCount: eventCount))
        case .failure(let error):
            return client.encode(client.failureEnvelope(error, attempts: attempts))
        }
    }
}
