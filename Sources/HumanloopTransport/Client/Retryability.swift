import CCurl
import HumanloopCore

/// Which answers and failures are worth another attempt: the one place of these rules. The
/// call's `AttemptPolicy` asks it (and adds the limits: max_retries, a stream only before its
/// first event); a `Transfer` asks it to mark its failures; `RetryPolicy` says when, not whether.
enum Retryability {
    /// An answer with `status`: 408, 409, 429 and 5xx (`RetryPolicy.isRetryable(status:)`), but
    /// 429 only when the call handles rate limits itself (`rateLimits`; a rate-aware batch
    /// handles them instead).
    static func retries(status: Int, rateLimits: Bool) -> Bool {
        status == 429 ? rateLimits : RetryPolicy.isRetryable(status: status)
    }

    /// A failed attempt of `transfer` (libcurl's `code`): refused, reset or closed before an
    /// answer, and timeouts while connecting (not after the request went out, not a stall, not a
    /// wait for a connection). For an event stream, also a connection that broke after a 2xx
    /// head but before any event.
    static func retries(_ code: CURLcode, of transfer: Transfer) -> Bool {
        if transfer.collector.receivedHead {
            let collector = transfer.collector
            guard collector.mode == .eventStream, collector.isSuccessStatus, collector.decodedEventCount == 0 else { return false }
            switch code {
            case CURLE_RECV_ERROR:
                return !transfer.isChunkedEncodingError(code, transfer.handle.errorDetail(code))
            case CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING:
                return true
            default:
                return false
            }
        }
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR:
            return true
        case CURLE_OPERATION_TIMEDOUT:
            return !transfer.requestSent && !transfer.stalled && !transfer.timedOutInQueue
        default:
            return false
        }
    }
}
