/// Every way a call can fail. Each case becomes one `error.type` of the error envelope.
public enum CallError: Error, Sendable {
    /// The request is malformed or does not match the endpoint's body (nothing was sent).
    case invalidRequest([ValidationIssue])
    /// The client configuration is unusable: every problem found, each with its key as path.
    case invalidConfig([ValidationIssue])
    /// The server answered `url` with a non-2xx status.
    case apiError(ResponseHead, body: [UInt8], roundTripTime: Double, url: String = "")
    /// The connection could not be made or broke.
    case connectionError(String)
    /// The call or one of its phases ran out of time.
    case timeout(String)
    /// A 2xx answer that is not what the API promises (not a JSON object, too large, ...).
    case invalidResponse(String, status: Int, body: String)
    /// The call or stream was cancelled before it ended.
    case cancelled(String)

    /// The `error.type` string of the envelope.
    public var typeName: String {
        switch self {
        case .invalidRequest: return "invalid_request"
        case .invalidConfig: return "invalid_config"
        case .apiError: return "api_error"
        case .connectionError: return "connection_error"
        case .timeout: return "timeout"
        case .invalidResponse: return "invalid_response"
        case .cancelled: return "cancelled"
        }
    }

    /// The one-sentence message of the envelope.
    public var message: String {
        switch self {
        case .invalidRequest(let issues):
            return Self.summary(of: issues, otherwise: "the request is invalid")
        case .invalidConfig(let issues):
            return Self.summary(of: issues, otherwise: "the client configuration is invalid")
        case .connectionError(let message), .timeout(let message), .cancelled(let message):
            return message
        case .apiError(let head, _, _, let url):
            let answer = "the server answered \(head.status) \(head.reason)".trimmingTrailingSpaces()
            // A 404 usually means a wrong host (for example one without /v4): show what was called.
            guard head.status == 404, !url.isEmpty else { return answer }
            let hint = url.contains("/v4/") ? "" : " (is the host right? the API's base URL ends in /v4)"
            return answer + " for POST \(url)" + hint
        case .invalidResponse(let message, _, _):
            return message
        }
    }
}

extension CallError {
    /// The first problem's message, and how many more there are.
    static func summary(of issues: [ValidationIssue], otherwise: String) -> String {
        guard let first = issues.first else { return otherwise }
        let more = issues.count - 1
        return first.message + (more > 0 ? " (and \(more) more problem\(more == 1 ? "" : "s"))" : "")
    }

    /// The problems of an `invalidRequest` or `invalidConfig` error (empty for the others).
    public var issues: [ValidationIssue] {
        switch self {
        case .invalidRequest(let issues), .invalidConfig(let issues): return issues
        default: return []
        }
    }
}
