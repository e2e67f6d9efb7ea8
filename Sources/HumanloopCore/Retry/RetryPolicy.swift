/// When and how long to wait before trying a call again.
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt (0 = never retry).
    public var maxRetries: Int
    /// Delay before the first retry, seconds.
    public var baseDelay: Double
    /// Largest backoff delay, seconds.
    public var maxDelay: Double
    /// Whether a 429 is retried by the call itself (false in a rate-aware batch, which puts the
    /// request back in its own queue and slows the whole batch instead).
    public var retriesRateLimits = true
    /// The longest server-requested delay (`Retry-After`) that is honoured, seconds.
    public static let maximumHonouredRetryAfter: Double = 60

    public init(maxRetries: Int, baseDelay: Double, maxDelay: Double) {
        self.maxRetries = maxRetries
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Statuses worth another try: 408, 409, 429 and 5xx.
    public static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 409 || status == 429 || (500...599).contains(status)
    }

    /// The delay before retry number `retry` (1-based): exponential, capped, with jitter
    /// (a uniformly random value between half and all of the capped exponential delay).
    public func backoff(retry: Int, random: Double) -> Double {
        let exponent = Double(max(0, min(retry - 1, 30)))
        var delay = baseDelay
        for _ in 0..<Int(exponent) { delay *= 2 }
        let capped = min(delay, maxDelay)
        return capped * (0.5 + 0.5 * min(max(random, 0), 1))
    }

    /// The delay before retry number `retry` given the failed answer's headers: the server's
    /// `retry-after-ms` or `Retry-After` (seconds or an HTTP date) when it asks for at most
    /// 60 s, otherwise the backoff.
    public func delay(retry: Int, headers: JSONObject?, now: Double, random: Double) -> Double {
        if let headers, let requested = Self.requestedDelay(headers: headers, now: now),
           requested <= Self.maximumHonouredRetryAfter {
            return requested
        }
        return backoff(retry: retry, random: random)
    }

    /// The delay the server asked for, in seconds, if it asked in a form we understand: a
    /// finite, non-negative `retry-after-ms`, or `Retry-After` as delta-seconds or an HTTP date
    /// (a past date asks for no delay). Anything else (negative, NaN, 1e400, beyond 64 bits,
    /// impossible dates) is not a request, and the caller falls back to the backoff.
    /// - Parameter now: the current Unix time, for HTTP dates.
    public static func requestedDelay(headers: JSONObject, now: Double) -> Double? {
        if case .string(let text) = headers["retry-after-ms"], let milliseconds = Double(text.trimmed),
           milliseconds.isFinite, milliseconds >= 0 {
            return milliseconds / 1000
        }
        guard case .string(let text) = headers["retry-after"] else { return nil }
        let value = text.trimmed
        // delta-seconds: digits only (Int rejects what does not fit: no overflow).
        if value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let seconds = Int(value) {
            return Double(seconds)
        }
        if let date = HTTPDate.unixTime(value) { return max(0, date - now) }
        return nil
    }
}
