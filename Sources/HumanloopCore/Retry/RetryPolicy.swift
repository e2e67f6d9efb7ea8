/// When and how long to wait before trying a call again.
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt (0 = never retry).
    public var maxRetries: Int
    /// Delay before the first retry, seconds.
    public var baseDelay: Double
    /// Largest backoff delay, seconds.
    public var maxDelay: Double
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

    /// The delay the server asked for, in seconds, if it asked in a form we understand.
    /// - Parameter now: the current Unix time, for HTTP dates.
    public static func requestedDelay(headers: JSONObject, now: Double) -> Double? {
        if case .string(let text) = headers["retry-after-ms"], let milliseconds = Double(text.trimmed),
           milliseconds.isFinite, milliseconds >= 0 {
            return milliseconds / 1000
        }
        guard case .string(let text) = headers["retry-after"] else { return nil }
        let value = text.trimmed
        if let seconds = Int(value), seconds >= 0 { return Double(seconds) }
        if let date = HTTPDate.unixTime(value) { return max(0, date - now) }
        return nil
    }
}

/// Parses the IMF-fixdate form of HTTP dates ("Sun, 06 Nov 1994 08:49:37 GMT").
public enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since 1970 for an IMF-fixdate, or nil.
    public static func unixTime(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", parts[0].hasSuffix(","),
              let day = Int(parts[1]), (1...31).contains(day),
              let monthIndex = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]), year >= 1970 else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else { return nil }
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        return Double(days * 86_400 + hour * 3_600 + minute * 60 + second)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
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
