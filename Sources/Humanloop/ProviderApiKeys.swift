/// `provider_api_keys`: the model providers' keys for one request (used for it, not stored).
/// The library never writes these values into logs or error messages.
public struct ProviderApiKeys: Codable, Sendable, Hashable {
    /// `openai`.
    public var openai: String?
    /// `ai21`.
    public var ai21: String?
    /// `mock`.
    public var mock: String?
    /// `anthropic`.
    public var anthropic: String?
    /// `cohere`.
    public var cohere: String?
    /// `openai_azure`.
    public var openaiAzure: String?
    /// `openai_azure_endpoint`.
    public var openaiAzureEndpoint: String?
    /// Keys of other providers, by their wire name.
    public var extra: [String: String]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case openai, ai21, mock, anthropic, cohere
        case openaiAzure = "openai_azure"
        case openaiAzureEndpoint = "openai_azure_endpoint"
    }

    private static let known = Set(CodingKeys.allCases.map(\.rawValue))

    /// Keys by provider; all optional.
    public init(openai: String? = nil, ai21: String? = nil, mock: String? = nil, anthropic: String? = nil,
                cohere: String? = nil, openaiAzure: String? = nil, openaiAzureEndpoint: String? = nil,
                extra: [String: String] = [:]) {
        self.openai = openai
        self.ai21 = ai21
        self.mock = mock
        self.anthropic = anthropic
        self.cohere = cohere
        self.openaiAzure = openaiAzure
        self.openaiAzureEndpoint = openaiAzureEndpoint
        self.extra = extra
    }

    /// Decodes the object; members of unknown providers go to `extra`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        openai = try container.decodeIfPresent(String.self, forKey: .openai)
        ai21 = try container.decodeIfPresent(String.self, forKey: .ai21)
        mock = try container.decodeIfPresent(String.self, forKey: .mock)
        anthropic = try container.decodeIfPresent(String.self, forKey: .anthropic)
        cohere = try container.decodeIfPresent(String.self, forKey: .cohere)
        openaiAzure = try container.decodeIfPresent(String.self, forKey: .openaiAzure)
        openaiAzureEndpoint = try container.decodeIfPresent(String.self, forKey: .openaiAzureEndpoint)
        let others = try decoder.container(keyedBy: DynamicCodingKey.self)
        var extra: [String: String] = [:]
        for key in others.allKeys where !Self.known.contains(key.stringValue) {
            extra[key.stringValue] = try others.decode(String.self, forKey: key)
        }
        self.extra = extra
    }

    /// Encodes the keys that are set, then `extra`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(openai, forKey: .openai)
        try container.encodeIfPresent(ai21, forKey: .ai21)
        try container.encodeIfPresent(mock, forKey: .mock)
        try container.encodeIfPresent(anthropic, forKey: .anthropic)
        try container.encodeIfPresent(cohere, forKey: .cohere)
        try container.encodeIfPresent(openaiAzure, forKey: .openaiAzure)
        try container.encodeIfPresent(openaiAzureEndpoint, forKey: .openaiAzureEndpoint)
        try encodeExtraFields(extra.mapValues(JSONValue.string), to: encoder, known: Self.known)
    }
}
