#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// What a batch needs to know of a call's envelope.
enum BatchOutcome {
    case success
    case cancelled
    /// A failure; `rateLimit` for a 429, or a 503 with Retry-After.
    case failure(rateLimit: (retryAfter: Double?, roundTrip: Double)?)

    var isSuccess: Bool { if case .success = self { return true } else { return false } }

    var rateLimit: (retryAfter: Double?, roundTrip: Double)? {
        if case .failure(let limit) = self { return limit } else { return nil }
    }

    /// Reads the envelope (the library's own: `{"ok":true` starts every success).
    init(_ envelope: [UInt8]) {
        if envelope.starts(with: #"{"ok":true"#.utf8) {
            self = .success
            return
        }
        guard case .object(let root)? = try? JSONReader.parse(envelope), case .object(let error)? = root["error"] else {
            self = .failure(rateLimit: nil)
            return
        }
        if case .string("cancelled")? = error["type"] {
            self = .cancelled
            return
        }
        guard case .number(let number)? = error["status"], let status = number.intValue else {
            self = .failure(rateLimit: nil)
            return
        }
        var headers = JSONObject()
        if case .object(let given)? = error["headers"] { headers = given }
        let retryAfter = RetryPolicy.requestedDelay(headers: headers, now: Clock.unixTime())
        var roundTrip = 0.0
        if case .number(let seconds)? = error["round_trip_time"] { roundTrip = seconds.doubleValue ?? 0 }
        let limited = status == 429 || (status == 503 && retryAfter != nil)
        self = .failure(rateLimit: limited ? (min(retryAfter ?? 0, RetryPolicy.maximumHonouredRetryAfter), roundTrip) : nil)
    }
}
