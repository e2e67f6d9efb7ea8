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

    /// Whether this policy retries an answer with `status` (`isRetryable`, and 429 only when
    /// `retriesRateLimits`).
    public func retries(status: Int) -> Bool {
        status == 429 ? retriesRateLimits : Self.isRetryable(status: status)
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

/// Parses HTTP dates in the three forms RFC 9110 asks recipients to accept:
/// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT")
/// and asctime ("Sun Nov  6 08:49:37 1994").
///
/// Whatever the text, nothing traps: years outside 1970...9999, impossible days (31 Feb) and
/// out-of-range clock fields give nil, and the arithmetic is done on those bounded values.
public enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since 1970 for an HTTP date, or nil.
    public static func unixTime(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        if parts.count == 6, parts[5] == "GMT", parts[0].hasSuffix(",") {
            // IMF-fixdate: day month year time
            return unixTime(day: parts[1], month: parts[2], year: parts[3], clock: parts[4])
        }
        if parts.count == 4, parts[3] == "GMT", parts[0].hasSuffix(",") {
            // RFC 850: dd-Mon-yy time; a two-digit year before 70 is in the 2000s.
            let date = parts[1].split(separator: "-", omittingEmptySubsequences: false)
            guard date.count == 3, date[2].utf8.count == 2, let short = Int(date[2]), short >= 0 else { return nil }
            let year = Substring(String(short < 70 ? 2000 + short : 1900 + short))
            return unixTime(day: date[0], month: date[1], year: year, clock: parts[2])
        }
        if parts.count == 5, !parts[0].hasSuffix(",") {
            // asctime: Mon d hh:mm:ss yyyy
            return unixTime(day: parts[2], month: parts[1], year: parts[4], clock: parts[3])
        }
        return nil
    }

    private static func unixTime(day dayText: Substring, month monthText: Substring, year yearText: Substring,
                                 clock clockText: Substring) -> Double? {
        guard dayText.utf8.count <= 2, yearText.utf8.count == 4,
              let day = Int(dayText), let year = Int(yearText), (1970...9999).contains(year),
              let monthIndex = months.firstIndex(of: String(monthText)),
              (1...daysIn(month: monthIndex + 1, year: year)).contains(day) else { return nil }
        let clock = clockText.split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.utf8.count == 2 }),
              let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else { return nil }
        // Bounded: |days| < 3e6, so the products below stay far inside Int.
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        return Double(days * 86_400 + hour * 3_600 + minute * 60 + second)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    /// The caller keeps `year` within 1970...9999.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs (HTTP's optional whitespace).
    public var trimmed: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
