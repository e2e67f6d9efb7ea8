extension Endpoint {
    /// The problem of a call name that is none of the four.
    public static func unknownCallIssue(_ name: String) -> ValidationIssue {
        ValidationIssue(path: "call", message: "unknown call \"\(name.prefix(60))\": use \"complete\", \"complete_deployed\", \"complete_experiment\" or \"complete_model_configuration\"")
    }
}
