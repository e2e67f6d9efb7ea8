/// The `error` member of a failure envelope.
struct ErrorPayload: Decodable {
    var type: String
    var message: String
    var path: String?
    var errors: [FieldProblem]?
    var status: Int?
    var reason: String?
    var body: JSONValue?
    var headers: [String: String]?

    /// The Swift error of this payload.
    func error(attempts: Int) -> HumanloopError {
        switch type {
        case "invalid_request": return .invalidRequest(message: message, path: path, errors: errors ?? [])
        case "invalid_config": return .invalidConfig(message: message, path: path, errors: errors ?? [])
        case "api_error":
            return .apiError(status: status ?? 0, reason: reason, body: body, headers: headers ?? [:], message: message,
                             attempts: attempts)
        case "connection_error": return .connectionError(message: message, attempts: attempts)
        case "timeout": return .timeout(message: message, attempts: attempts)
        case "invalid_response":
            let text: String?
            switch body {
            case .string(let value)?: text = value
            case nil, .null?: text = nil
            case let other?: text = "\(other)"
            }
            return .invalidResponse(status: status, body: text, message: message, attempts: attempts)
        case "cancelled": return .cancelled(message: message, attempts: attempts)
        default: return .other(type: type, message: message, attempts: attempts)
        }
    }
}
