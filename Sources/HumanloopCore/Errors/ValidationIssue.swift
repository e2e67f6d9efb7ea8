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
