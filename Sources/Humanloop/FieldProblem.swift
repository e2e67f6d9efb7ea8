/// One problem of an invalid request or configuration: where (`path`, e.g.
/// `model_config.temperature` or `options.headers`) and what.
public struct FieldProblem: Codable, Sendable, Hashable {
    /// The path of the bad value.
    public var path: String
    /// What is wrong with it (never contains a secret).
    public var message: String

    /// A problem.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}
