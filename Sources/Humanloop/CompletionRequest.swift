/// The body of `POST /completion` (`CompletionRequest`), sent by ``HumanloopClient/complete(_:options:)`` and
/// ``HumanloopClient/completeStream(_:options:)``. Only the fields that are set are sent
/// (the library always adds `provider_api_keys`, `{}` when empty).
public struct CompletionRequest: Codable, Sendable, Hashable {
    /// `model_config`: the model configuration to generate with (required).
    public var modelConfig: ModelConfigCompletionRequest
    /// `project`: project name; the project is created when no project has that name.
    public var project: String?
    /// `project_id`: project ID (one of `project` / `projectId` is expected).
    public var projectId: String?
    /// `session_id`: the session the logged datapoint joins.
    public var sessionId: String?
    /// `session_reference_id`: your own key for a session.
    public var sessionReferenceId: String?
    /// `parent_id`: ID of the parent datapoint within the session.
    public var parentId: String?
    /// `parent_reference_id`: your own key of an earlier datapoint to use as parent.
    public var parentReferenceId: String?
    /// `inputs`: values for the prompt template's `{{NAME}}` placeholders.
    public var inputs: [String: JSONValue]?
    /// `source`: a free label saying where the call comes from.
    public var source: String?
    /// `metadata`: any data to record with the log.
    public var metadata: [String: JSONValue]?
    /// `provider_api_keys`: the model providers' keys for this request.
    public var providerApiKeys: ProviderApiKeys?
    /// `num_samples`: how many generations (server default 1).
    public var numSamples: Int?
    /// `logprobs`: also return the log-probabilities of the n most likely tokens.
    public var logprobs: Int?
    /// `stream`: the `...Stream` methods set it; with `true` on a non-stream method the library reads the stream and returns the merged answer.
    public var stream: Bool?
    /// `suffix`: text that comes after the completion.
    public var suffix: String?
    /// `user`: an ID of your end user, passed on to the provider.
    public var user: String?

    /// The wire names, in the order the API lists them.
    enum CodingKeys: String, CodingKey {
        case modelConfig = "model_config"
        case project
        case projectId = "project_id"
        case sessionId = "session_id"
        case sessionReferenceId = "session_reference_id"
        case parentId = "parent_id"
        case parentReferenceId = "parent_reference_id"
        case inputs
        case source
        case metadata
        case providerApiKeys = "provider_api_keys"
        case numSamples = "num_samples"
        case logprobs
        case stream
        case suffix
        case user
    }

    /// A request; every field but the endpoint's required one is optional (`project` and
    /// `projectId` come first, then the endpoint's own field, then the others in the API's order).
    public init(project: String? = nil, projectId: String? = nil, modelConfig: ModelConfigCompletionRequest, sessionId: String? = nil, sessionReferenceId: String? = nil, parentId: String? = nil, parentReferenceId: String? = nil, inputs: [String: JSONValue]? = nil, source: String? = nil, metadata: [String: JSONValue]? = nil, providerApiKeys: ProviderApiKeys? = nil, numSamples: Int? = nil, logprobs: Int? = nil, stream: Bool? = nil, suffix: String? = nil, user: String? = nil) {
        self.modelConfig = modelConfig
        self.project = project
        self.projectId = projectId
        self.sessionId = sessionId
        self.sessionReferenceId = sessionReferenceId
        self.parentId = parentId
        self.parentReferenceId = parentReferenceId
        self.inputs = inputs
        self.source = source
        self.metadata = metadata
        self.providerApiKeys = providerApiKeys
        self.numSamples = numSamples
        self.logprobs = logprobs
        self.stream = stream
        self.suffix = suffix
        self.user = user
    }
}
