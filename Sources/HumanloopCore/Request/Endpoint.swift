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
