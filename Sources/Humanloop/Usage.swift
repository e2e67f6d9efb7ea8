/// `usage`: the token counts of a call (note `generation_tokens`, not `completion_tokens`).
/// Members a newer server adds are kept in `extra`.
public struct Usage: Codable, Sendable, Hashable {
    /// `prompt_tokens`.
    public var promptTokens: Int
    /// `generation_tokens`.
    public var generationTokens: Int
    /// `total_tokens`.
    public var totalTokens: Int
    /// Members of the object that this type does not declare, as received.
    public var extra: [String: JSONValue]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case promptTokens = "prompt_tokens"
        case generationTokens = "generation_tokens"
        case totalTokens = "total_tokens"
    }

    private static let known = Set(CodingKeys.allCases.map(\.rawValue))

    /// Token counts.
    public init(promptTokens: Int, generationTokens: Int, totalTokens: Int, extra: [String: JSONValue] = [:]) {
        self.promptTokens = promptTokens
        self.generationTokens = generationTokens
        self.totalTokens = totalTokens
        self.extra = extra
    }

    /// Decodes the object, unknown members into `extra`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        promptTokens = try container.decode(Int.self, forKey: .promptTokens)
        generationTokens = try container.decode(Int.self, forKey: .generationTokens)
        totalTokens = try container.decode(Int.self, forKey: .totalTokens)
        extra = try decodeExtraFields(from: decoder, known: Self.known)
    }

    /// Encodes the declared members, then `extra`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(promptTokens, forKey: .promptTokens)
        try container.encode(generationTokens, forKey: .generationTokens)
        try container.encode(totalTokens, forKey: .totalTokens)
        try encodeExtraFields(extra, to: encoder, known: Self.known)
    }
}
