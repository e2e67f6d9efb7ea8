import HumanloopCore

extension TransportClient {
    /// The one policy of retries and redirects for every path (blocking calls and streams): 307/308
    /// to the same origin are followed (at most 3); 408, 409, 429, 5xx and retryable connection
    /// failures are retried up to `max_retries` with the backoff or the server's Retry-After;
    /// a stream only before its first event. Also logs the attempt.
    func decide(after outcome: TransferOutcome, of transfer: Transfer, request: PreparedRequest, attempt: Int,
                redirects: Int, url: String, beforeFirstEvent: Bool, policy retryPolicy: RetryPolicy,
                secrets: () -> Secrets) -> AttemptDecision {
        let decision: AttemptDecision
        switch outcome {
        case .response(let head, _) where (200...299).contains(head.status):
            decision = .finish
        case .response(let head, _):
            if beforeFirstEvent, redirects < 3, let target = redirectTarget(head, from: url) {
                decision = .redirect(to: target)
            } else if beforeFirstEvent && attempt <= retryPolicy.maxRetries && retryPolicy.retries(status: head.status) {
                decision = .retry(after: retryPolicy.delay(retry: attempt, headers: head.headers, now: Clock.unixTime(),
                                                           random: Double.random(in: 0...1)))
            } else {
                decision = .finish
            }
        case .failure(_, let retryable):
            decision = beforeFirstEvent && retryable && attempt <= retryPolicy.maxRetries
                ? .retry(after: retryPolicy.backoff(retry: attempt, random: Double.random(in: 0...1))) : .finish
        }
        logAttempt(outcome, of: transfer, request: request, attempt: attempt, url: url, decision: decision, secrets: secrets)
        return decision
    }

    /// One info line per attempt (call, method, URL, status or error, attempt, duration, bytes,
    /// what happens next); at debug also the request and the answer. `secrets` (the client's and
    /// the request's) are redacted from every line; the request body's provider keys by path.
    func logAttempt(_ outcome: TransferOutcome, of transfer: Transfer, request: PreparedRequest, attempt: Int, url: String,
                    decision: AttemptDecision, secrets: () -> Secrets) {
        let level = LogSink.shared.level(for: configuration.logLevel)
        guard level >= .info else { return }
        let secrets = secrets()
        var line = "\(request.endpoint.callName) POST \(url) attempt=\(attempt)"
        switch outcome {
        case .response(let head, _): line += " status=\(head.status)"
        case .failure(let error, _): line += " error=\(error.typeName) \"\(error.message)\""
        }
        line += " duration=\(JSONNumber(seconds: transfer.elapsed).text)s bytes=\(transfer.collector.bodyBytesReceived)"
        switch decision {
        case .finish: break
        case .redirect(let target): line += " -> redirect to \(target)"
        case .retry(let delay): line += " -> retry in \(JSONNumber(seconds: delay).text)s"
        }
        LogSink.shared.emit(.info, secrets.redact(line))
        guard level >= .debug else { return }
        let requestHeaders = JSONObject([("X-API-KEY", .string("[redacted]")), ("Content-Type", .string("application/json")),
                                         ("Accept", .string("application/json")), ("User-Agent", .string(configuration.userAgent))])
        LogSink.shared.emit(.debug, "request headers: \(JSONSerializer.string(of: .object(requestHeaders)))")
        // The body the library wrote itself: its provider keys are known by path.
        let requestBody = (try? JSONReader.parse(request.body)).map { JSONSerializer.bytes(of: Secrets.redactingRequestKeys($0)) }
        LogSink.shared.emit(.debug, "request body: \(Self.shown(requestBody ?? request.body, secrets: secrets))")
        if case .response(let head, let body) = outcome {
            let headers = secrets.redact(.object(head.headers))
            LogSink.shared.emit(.debug, secrets.redact("response: \(head.status) \(head.reason) headers: \(JSONSerializer.string(of: headers))"))
            if !body.isEmpty { LogSink.shared.emit(.debug, "response body: \(Self.shown(body, secrets: secrets))") }
        }
    }

    /// A body for the log: redacted (whole, so that no secret is cut in two and half shown), then
    /// cut to 64 KiB.
    private static func shown(_ bytes: [UInt8], secrets: Secrets) -> String {
        let limit = 64 * 1024
        let text = Array(secrets.redact(String(decoding: bytes, as: UTF8.self)).utf8)
        let shown = String(decoding: text.prefix(limit), as: UTF8.self)
        return text.count > limit ? shown + " [\(text.count - limit) more bytes]" : shown
    }
}
