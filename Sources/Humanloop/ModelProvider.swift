/// Who serves the model (`model_config.provider`). The known values are static members; another
/// value can be written (`ModelProvider(rawValue: "...")`) and the library's validation decides.
public struct ModelProvider: RawRepresentable, Codable, Sendable, Hashable, ExpressibleByStringLiteral {
    /// The wire value.
    public var rawValue: String
    /// A provider by its wire value.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A provider from a string literal.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// Decodes the wire string.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    /// Encodes the wire string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// `openai` (the server's default).
    public static let openai: ModelProvider = "openai"
    /// `openai_azure`.
    public static let openaiAzure: ModelProvider = "openai_azure"
    /// `ai21`.
    public static let ai21: ModelProvider = "ai21"
    /// `mock`.
    public static let mock: ModelProvider = "mock"
    /// `anthropic`.
    public static let anthropic: ModelProvider = "anthropic"
    /// `langchain`.
    public static let langchain: ModelProvider = "langchain"
    /// `cohere`.
    public static let cohere: ModelProvider = "cohere"
    /// `replicate`.
    public static let replicate: ModelProvider = "replicate"
}
