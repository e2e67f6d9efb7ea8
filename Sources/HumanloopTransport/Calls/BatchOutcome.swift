#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// What a batch needs to know of a call's result.
enum BatchOutcome {
    case success
    case cancelled
    /// A failure; `rateLimit` for a 429, or a 503 with Retry-After.
    case failure(rateLimit: (retryAfter: Double?, roundTrip: Double)?)

    var isSuccess: Bool { if case .success = self { return true } else { return false } }

    var rateLimit: (retryAfter: Double?, roundTrip: Double)? {
        if case .failure(let limit) = self { return limit } else { return nil }
    }

    /// Reads a call's terminal result.
    init(_ result: CallResult) {
        let status: Int
        var headers = JSONObject()
        var roundTrip = 0.0
        switch result {
        case .event, .streamDone, .success:
            self = .success
            return
        case .failure(.cancelled, _, _):
            self = .cancelled
            return
        case .failure(.apiError(let head, _, let roundTripTime, _), _, _):
            status = head.status
            headers = head.headers
            roundTrip = roundTripTime
        case .failure(.invalidResponse(_, let answered, _), _, _):
            status = answered
        case .failure:
            self = .failure(rateLimit: nil)
            return
        }
        let retryAfter = RetryPolicy.requestedDelay(headers: headers, now: Clock.unixTime())
        let limited = status == 429 || (status == 503 && retryAfter != nil)
        self = .failure(rateLimit: limited ? (min(retryAfter ?? 0, RetryPolicy.maximumHonouredRetryAfter), roundTrip) : nil)
    }
}
