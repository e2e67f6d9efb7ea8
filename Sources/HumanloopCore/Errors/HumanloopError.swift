/// One problem found in a request before it is sent.
public struct ValidationIssue: Equatable, Sendable {
    /// Where the problem is, as a dotted path (`model_config.temperature`, `model_config.stop[1]`);
    /// empty for the request as a whole.
    public var path: String
    /// One readable sentence.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

/// What the server answered, as far as an envelope needs it.
public struct ResponseHead: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The reason phrase of the status line (or the standard one when the server sent none).
    public var reason: String
    /// Response headers, lower-case names, repeated headers joined with ", ".
    public var headers: JSONObject

    public init(status: Int, reason: String, headers: JSONObject) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }
}

/// Every way a call can fail. Each case becomes one `error.type` of the error envelope.
public enum HumanloopError: Error, Sendable {
    /// The request is malformed or does not match the endpoint's body (nothing was sent).
    case invalidRequest([ValidationIssue])
    /// The client configuration is unusable.
    case invalidConfig(String)
    /// The server answered with a non-2xx status.
    case apiError(ResponseHead, body: [UInt8], roundTripTime: Double)
    /// The connection could not be made or broke.
    case connectionError(String)
    /// The call or one of its phases ran out of time.
    case timeout(String)
    /// A 2xx answer that is not what the API promises (not a JSON object, too large, ...).
    case invalidResponse(String, status: Int, body: String)

    /// The `error.type` string of the envelope.
    public var typeName: String {
        switch self {
        case .invalidRequest: return "invalid_request"
        case .invalidConfig: return "invalid_config"
        case .apiError: return "api_error"
        case .connectionError: return "connection_error"
        case .timeout: return "timeout"
        case .invalidResponse: return "invalid_response"
        }
    }

    /// The one-sentence message of the envelope.
    public var message: String {
        switch self {
        case .invalidRequest(let issues):
            guard let first = issues.first else { return "the request is invalid" }
            let more = issues.count - 1
            return first.message + (more > 0 ? " (and \(more) more problem\(more == 1 ? "" : "s"))" : "")
        case .invalidConfig(let message), .connectionError(let message), .timeout(let message):
            return message
        case .apiError(let head, _, _):
            return "the server answered \(head.status) \(head.reason)".trimmingTrailingSpaces()
        case .invalidResponse(let message, _, _):
            return message
        }
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}
