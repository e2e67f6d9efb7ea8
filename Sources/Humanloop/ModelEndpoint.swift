/// Which provider endpoint is called (`model_config.endpoint`): `complete`, `chat` or `edit`.
public struct ModelEndpoint: RawRepresentable, Codable, Sendable, Hashable, ExpressibleByStringLiteral {
    /// The wire value.
    public var rawValue: String
    /// An endpoint by its wire value.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// An endpoint from a string literal.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// Decodes the wire string.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    /// Encodes the wire string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// `complete` (the server's default).
    public static let complete: ModelEndpoint = "complete"
    /// `chat`.
    public static let chat: ModelEndpoint = "chat"
    /// `edit`.
    public static let edit: ModelEndpoint = "edit"
}
