/// The answer of a completion call (`CompletionResponse`), with what the library knows of the
/// HTTP exchange: ``status``, ``headers``, ``attempts`` and ``roundTripTime``.
///
/// `null` is taken as absent; members a newer server adds are kept in ``extra`` (and in the
/// `extra` of each ``DataResponse`` and of ``Usage``), so nothing of the answer is lost. Encoding
/// writes the body only (the exchange's fields are not part of it).
public struct CompletionResponse: Codable, Sendable, Hashable {
    /// `data`: one item per generation.
    public var data: [DataResponse]
    /// `provider_responses`: the provider's raw answers.
    public var providerResponses: [JSONValue]
    /// `project_id`: the project's ID (absent when the request named no project).
    public var projectId: String?
    /// `num_samples`: generations per input.
    public var numSamples: Int?
    /// `logprobs`: the request's value, echoed.
    public var logprobs: Int?
    /// `suffix`: the request's value, echoed.
    public var suffix: String?
    /// `user`: the request's value, echoed.
    public var user: String?
    /// `usage`: token counts.
    public var usage: Usage?
    /// `metadata`: the metadata recorded with the call.
    public var metadata: [String: JSONValue]?
    /// Members of the body that this type does not declare, as received.
    public var extra: [String: JSONValue]

    /// The HTTP status of the answer (from the library's envelope, not the body).
    public var status: Int = 200
    /// The answer's headers: lower-case names, repeated headers joined with ", ".
    public var headers: [String: String] = [:]
    /// The HTTP attempts made (1 when nothing was retried).
    public var attempts: Int = 1
    /// Seconds of the last attempt, from sending to the end of the answer.
    public var roundTripTime: Double = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case data
        case providerResponses = "provider_responses"
        case projectId = "project_id"
        case numSamples = "num_samples"
        case logprobs, suffix, user, usage, metadata
    }

    private static let known = Set(CodingKeys.allCases.map(\.rawValue))

    /// A response body (the exchange's fields keep their defaults).
    public init(data: [DataResponse], providerResponses: [JSONValue] = [], projectId: String? = nil, numSamples: Int? = nil,
                logprobs: Int? = nil, suffix: String? = nil, user: String? = nil, usage: Usage? = nil,
                metadata: [String: JSONValue]? = nil, extra: [String: JSONValue] = [:]) {
        self.data = data
        self.providerResponses = providerResponses
        self.projectId = projectId
        self.numSamples = numSamples
        self.logprobs = logprobs
        self.suffix = suffix
        self.user = user
        self.usage = usage
        self.metadata = metadata
        self.extra = extra
    }

    /// Decodes a body, unknown members into ``extra``.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        data = try container.decode([DataResponse].self, forKey: .data)
        providerResponses = try container.decodeIfPresent([JSONValue].self, forKey: .providerResponses) ?? []
        projectId = try container.decodeIfPresent(String.self, forKey: .projectId)
        numSamples = try container.decodeIfPresent(Int.self, forKey: .numSamples)
        logprobs = try container.decodeIfPresent(Int.self, forKey: .logprobs)
        suffix = try container.decodeIfPresent(String.self, forKey: .suffix)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        usage = try container.decodeIfPresent(Usage.self, forKey: .usage)
        metadata = try container.decodeIfPresent([String: JSONValue].self, forKey: .metadata)
        extra = try decodeExtraFields(from: decoder, known: Self.known)
    }

    /// Encodes the body: the members that are set, then ``extra``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encode(providerResponses, forKey: .providerResponses)
        try container.encodeIfPresent(projectId, forKey: .projectId)
        try container.encodeIfPresent(numSamples, forKey: .numSamples)
        try container.encodeIfPresent(logprobs, forKey: .logprobs)
        try container.encodeIfPresent(suffix, forKey: .suffix)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encodeIfPresent(usage, forKey: .usage)
        try container.encodeIfPresent(metadata, forKey: .metadata)
        try encodeExtraFields(extra, to: encoder, known: Self.known)
    }
}
