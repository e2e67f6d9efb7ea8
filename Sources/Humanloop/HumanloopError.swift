/// A failed call: one case per `error.type` of the library's envelopes (see `include/humanloop.h`).
///
/// A call whose task is cancelled throws `CancellationError` instead of ``cancelled(message:attempts:)``;
/// that case is left for a call ended by something else (the client being freed).
public enum HumanloopError: Error, Sendable, Hashable {
    /// `invalid_request`: the request (or its options) does not match the endpoint; nothing was
    /// sent. `path` names the first bad value, `errors` lists every problem.
    case invalidRequest(message: String, path: String?, errors: [FieldProblem])
    /// `invalid_config`: the client's configuration is unusable (no API key, bad host, ...).
    case invalidConfig(message: String, path: String?, errors: [FieldProblem])
    /// `api_error`: the server answered with a non-2xx status. `body` is the parsed JSON, or a
    /// string when the body is not JSON (secrets redacted); `headers` have lower-case names.
    case apiError(status: Int, reason: String?, body: JSONValue?, headers: [String: String], message: String, attempts: Int)
    /// `connection_error`: the connection could not be made or broke (DNS, refused, reset, TLS, proxy).
    case connectionError(message: String, attempts: Int)
    /// `timeout`: the call (or its connection phase) ran out of time.
    case timeout(message: String, attempts: Int)
    /// `invalid_response`: a 2xx answer that is not a JSON object (or that this API's types
    /// cannot read), a body over `max_response_bytes`, a malformed head. `body` is the text
    /// received, possibly cut short.
    case invalidResponse(status: Int?, body: String?, message: String, attempts: Int)
    /// `cancelled`: the call was cancelled by something other than its task (e.g. its client freed).
    case cancelled(message: String, attempts: Int)
    /// An `error.type` this version does not know (a newer library): its name and message.
    case other(type: String, message: String, attempts: Int)

    /// The error's one readable sentence (never contains an API key).
    public var message: String {
        switch self {
        case .invalidRequest(let message, _, _), .invalidConfig(let message, _, _): return message
        case .apiError(_, _, _, _, let message, _): return message
        case .connectionError(let message, _), .timeout(let message, _), .cancelled(let message, _): return message
        case .invalidResponse(_, _, let message, _): return message
        case .other(_, let message, _): return message
        }
    }

    /// The wire name of the error's type (`error.type`), e.g. `"api_error"`.
    public var type: String {
        switch self {
        case .invalidRequest: return "invalid_request"
        case .invalidConfig: return "invalid_config"
        case .apiError: return "api_error"
        case .connectionError: return "connection_error"
        case .timeout: return "timeout"
        case .invalidResponse: return "invalid_response"
        case .cancelled: return "cancelled"
        case .other(let type, _, _): return type
        }
    }

    /// The HTTP status, for an `api_error` (and an `invalid_response` that had one).
    public var status: Int? {
        switch self {
        case .apiError(let status, _, _, _, _, _): return status
        case .invalidResponse(let status, _, _, _): return status
        default: return nil
        }
    }
}

extension HumanloopError: CustomStringConvertible {
    /// `type: message`.
    public var description: String { "\(type): \(message)" }
}
