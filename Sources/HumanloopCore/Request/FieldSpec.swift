/// One field of a request body.
public struct FieldSpec: Sendable {
    public let name: String
    public let type: FieldType
    public let required: Bool

    public init(_ name: String, _ type: FieldType, required: Bool = false) {
        self.name = name
        self.type = type
        self.required = required
    }

    /// The fields shared by all four bodies.
    static let common: [FieldSpec] = [
        FieldSpec("project", .string),
        FieldSpec("project_id", .string),
        FieldSpec("session_id", .string),
        FieldSpec("session_reference_id", .string),
        FieldSpec("parent_id", .string),
        FieldSpec("parent_reference_id", .string),
        FieldSpec("inputs", .object),
        FieldSpec("source", .string),
        FieldSpec("metadata", .object),
        FieldSpec("provider_api_keys", .providerKeys),
        FieldSpec("num_samples", .integer),
        FieldSpec("logprobs", .integer),
        FieldSpec("stream", .boolean),
        FieldSpec("suffix", .string),
        FieldSpec("user", .string),
    ]

    /// `ModelProviders` of the API.
    public static let modelProviders = ["openai", "openai_azure", "ai21", "mock", "anthropic", "langchain", "cohere", "replicate"]
    /// `ModelEndpoints` of the API.
    public static let modelEndpoints = ["complete", "chat", "edit"]

    /// The fields of `model_config` (`ModelConfigCompletionRequest`).
    static let modelConfig: [FieldSpec] = [
        FieldSpec("model", .string, required: true),
        FieldSpec("prompt_template", .string, required: true),
        FieldSpec("description", .string),
        FieldSpec("name", .string),
        FieldSpec("provider", .oneOf(name: "ModelProviders", values: modelProviders)),
        FieldSpec("max_tokens", .integer),
        FieldSpec("temperature", .number),
        FieldSpec("top_p", .number),
        FieldSpec("stop", .stringOrStringArray),
        FieldSpec("presence_penalty", .number),
        FieldSpec("frequency_penalty", .number),
        FieldSpec("other", .object),
        FieldSpec("endpoint", .oneOf(name: "ModelEndpoints", values: modelEndpoints)),
    ]
}
