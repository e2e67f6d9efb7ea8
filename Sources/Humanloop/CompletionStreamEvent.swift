/// One event of a completion stream: shaped like a ``CompletionResponse`` with one generation
/// in `data`, whose `output` is the text added since the previous event of that sample.
/// Members this type does not declare are kept in ``extra``.
public struct CompletionStreamEvent: Codable, Sendable, Hashable {
    /// `data`: the generation this event adds to (usually one item; `index` tells samples apart).
    public var data: [DataResponse]
    /// `project_id`.
    public var projectId: String?
    /// `provider_responses`, when the event has them.
    public var providerResponses: [JSONValue]?
    /// `usage`, when the event has it.
    public var usage: Usage?
    /// Members of the event that this type does not declare, as received.
    public var extra: [String: JSONValue]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case data
        case projectId = "project_id"
        case providerResponses = "provider_responses"
        case usage
    }

    private static let known = Set(CodingKeys.allCases.map(\.rawValue))

    /// An event.
    public init(data: [DataResponse], projectId: String? = nil, providerResponses: [JSONValue]? = nil, usage: Usage? = nil,
                extra: [String: JSONValue] = [:]) {
        self.data = data
        self.projectId = projectId
        self.providerResponses = providerResponses
        self.usage = usage
        self.extra = extra
    }

    /// Decodes an event, unknown members into ``extra`` (an event without `data` has none).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        data = try container.decodeIfPresent([DataResponse].self, forKey: .data) ?? []
        projectId = try container.decodeIfPresent(String.self, forKey: .projectId)
        providerResponses = try container.decodeIfPresent([JSONValue].self, forKey: .providerResponses)
        usage = try container.decodeIfPresent(Usage.self, forKey: .usage)
        extra = try decodeExtraFields(from: decoder, known: Self.known)
    }

    /// Encodes the event: the members that are set, then ``extra``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encodeIfPresent(projectId, forKey: .projectId)
        try container.encodeIfPresent(providerResponses, forKey: .providerResponses)
        try container.encodeIfPresent(usage, forKey: .usage)
        try encodeExtraFields(extra, to: encoder, known: Self.known)
    }
}
