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
