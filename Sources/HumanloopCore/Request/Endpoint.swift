/// The four completion endpoints.
public enum Endpoint: Sendable, CaseIterable {
    case completion
    case deployed
    case experiment
    case modelConfiguration

    /// The endpoint of a call name ("complete", "complete_deployed", "complete_experiment",
    /// "complete_model_configuration"), or nil for any other name.
    public init?(callName: String) {
        guard let endpoint = Self.allCases.first(where: { $0.callName == callName }) else { return nil }
        self = endpoint
    }

    /// The name of the call, as in the official SDK: "complete", "complete_deployed", ...
    public var callName: String {
        switch self {
        case .completion: return "complete"
        case .deployed: return "complete_deployed"
        case .experiment: return "complete_experiment"
        case .modelConfiguration: return "complete_model_configuration"
        }
    }

    /// The path appended to the host.
    public var path: String {
        switch self {
        case .completion: return "/completion"
        case .deployed: return "/completion-deployed"
        case .experiment: return "/completion-experiment"
        case .modelConfiguration: return "/completion-model-config"
        }
    }

    /// The name of the request body in the API reference.
    public var bodyName: String {
        switch self {
        case .completion: return "CompletionRequest"
        case .deployed: return "CompletionDeployedRequest"
        case .experiment: return "CompletionExperimentRequest"
        case .modelConfiguration: return "CompletionModelConfigRequest"
        }
    }

    /// The fields of the body, in the reference's order and by name (built once per endpoint).
    var fieldTable: FieldTable {
        switch self {
        case .completion: return Self.completionFields
        case .deployed: return Self.deployedFields
        case .experiment: return Self.experimentFields
        case .modelConfiguration: return Self.modelConfigurationFields
        }
    }

    private static let completionFields = FieldTable([FieldSpec("model_config", .modelConfig, required: true)] + FieldSpec.common)
    private static let deployedFields = FieldTable(FieldSpec.common + [FieldSpec("environment", .string)])
    private static let experimentFields = FieldTable([FieldSpec("experiment_id", .string, required: true)] + FieldSpec.common)
    private static let modelConfigurationFields = FieldTable([FieldSpec("model_config_id", .string, required: true)] + FieldSpec.common)
}

/// The fields of one object (a body, or `model_config`) by name, and the required ones in order.
struct FieldTable: Sendable {
    let byName: [String: FieldSpec]
    let required: [FieldSpec]

    init(_ fields: [FieldSpec]) {
        byName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        required = fields.filter(\.required)
    }

    /// The fields of `model_config`.
    static let modelConfig = FieldTable(FieldSpec.modelConfig)
}

/// The JSON shape one field accepts.
public indirect enum FieldType: Sendable {
    case string
    case integer
    case number
    case boolean
    case object
    case oneOf(name: String, values: [String])
    case stringOrStringArray
    case modelConfig
    case providerKeys
}

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
