import HumanloopCore

/// Everything a call's attempts follow, fixed when the call is made and carried by it (the call
/// never reaches back into its client): the transfer settings, the retry policy, the URL, the
/// log, the client's secrets; and the one decision after each attempt.
///
/// 307/308 to the same origin are followed (at most `maximumRedirects`); what `Retryability`
/// calls worth another try is retried up to `max_retries` with the backoff or the server's
/// Retry-After; a stream only before its first event.
struct AttemptPolicy {
    /// The transfer settings of the call (the client's, with the call's options).
    let settings: TransportSettings
    /// When to try again, and how often (the client's, or the call's `max_retries`).
    var retry: RetryPolicy
    /// The URL of the first attempt.
    let url: String
    /// Where each attempt is logged.
    let log: AttemptLog
    /// The client's secrets (API key, provider keys), kept out of every text the call writes.
    let secrets: Secrets

    /// The most same-origin redirects a call follows.
    static let maximumRedirects = 3

    /// What to do after attempt number `attempt` ended with `outcome` (it is logged too).
    /// `redirects`: the redirects followed so far; `url`: where the attempt went.
    func decide(after outcome: TransferOutcome, of transfer: Transfer, request: PreparedRequest, attempt: Int,
                redirects: Int, url: String, beforeFirstEvent: Bool, secrets: () -> Secrets) -> AttemptDecision {
        let decision: AttemptDecision
        switch outcome {
        case .response(let head, _) where (200...299).contains(head.status):
            decision = .finish
        case .response(let head, _):
            if beforeFirstEvent, redirects < Self.maximumRedirects, let target = Self.redirectTarget(head, from: url) {
                decision = .redirect(to: target)
            } else if beforeFirstEvent && attempt <= retry.maxRetries
                        && Retryability.retries(status: head.status, rateLimits: retry.retriesRateLimits) {
                decision = .retry(after: retry.delay(retry: attempt, headers: head.headers, now: Clock.unixTime(),
                                                     random: Double.random(in: 0...1)))
            } else {
                decision = .finish
            }
        case .failure(_, let retryable):
            decision = beforeFirstEvent && retryable && attempt <= retry.maxRetries
                ? .retry(after: retry.backoff(retry: attempt, random: Double.random(in: 0...1))) : .finish
        }
        log.record(outcome, of: transfer, request: request, attempt: attempt, url: url, decision: decision, secrets: secrets)
        return decision
    }

    /// Where a 307/308 answer to `url` leads, when it may be followed (the same origin).
    static func redirectTarget(_ head: ResponseHead, from url: String) -> String? {
        guard head.status == 307 || head.status == 308, case .string(let location) = head.headers["location"] else { return nil }
        return Redirect.sameOriginTarget(location: location, from: url)
    }
}
