/// One generation (`DataResponse`): an item of a response's or a stream event's `data`.
/// `null` is taken as absent; members a newer server adds are kept in `extra`.
public struct DataResponse: Codable, Sendable, Hashable {
    /// `id`: ID of the logged datapoint (for feedback later).
    public var id: String
    /// `index`: which sample of the input it is (0 when absent).
    public var index: Int
    /// `output`: the generated text without leading and trailing whitespace; in a stream event,
    /// the text added since the previous event of the same sample.
    public var output: String
    /// `raw_output`: the generated text exactly as the provider gave it (the API requires it in
    /// a response; a stream event may leave it out).
    public var rawOutput: String?
    /// `inputs`: the inputs the template was filled with.
    public var inputs: [String: JSONValue]?
    /// `model_config_id`: the model config that made this generation.
    public var modelConfigId: String?
    /// `finish_reason`: why the generation ended (`stop`, `length`, `tool_call`, ...; free text);
    /// `nil` on every stream event but the last of a sample.
    public var finishReason: String?
    /// `tool_results`: results of tools run while generating.
    public var toolResults: [ToolResult]?
    /// Members of the object that this type does not declare, as received.
    public var extra: [String: JSONValue]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, index, output
        case rawOutput = "raw_output"
        case inputs
        case modelConfigId = "model_config_id"
        case finishReason = "finish_reason"
        case toolResults = "tool_results"
    }

    private static let known = Set(CodingKeys.allCases.map(\.rawValue))

    /// A data item.
    public init(id: String, index: Int = 0, output: String, rawOutput: String? = nil, inputs: [String: JSONValue]? = nil,
                modelConfigId: String? = nil, finishReason: String? = nil, toolResults: [ToolResult]? = nil,
                extra: [String: JSONValue] = [:]) {
        self.id = id
        self.index = index
        self.output = output
        self.rawOutput = rawOutput
        self.inputs = inputs
        self.modelConfigId = modelConfigId
        self.finishReason = finishReason
        self.toolResults = toolResults
        self.extra = extra
    }

    /// Decodes the object, unknown members into `extra`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        index = try container.decodeIfPresent(Int.self, forKey: .index) ?? 0
        output = try container.decode(String.self, forKey: .output)
        rawOutput = try container.decodeIfPresent(String.self, forKey: .rawOutput)
        inputs = try container.decodeIfPresent([String: JSONValue].self, forKey: .inputs)
        modelConfigId = try container.decodeIfPresent(String.self, forKey: .modelConfigId)
        finishReason = try container.decodeIfPresent(String.self, forKey: .finishReason)
        toolResults = try container.decodeIfPresent([ToolResult].self, forKey: .toolResults)
        extra = try decodeExtraFields(from: decoder, known: Self.known)
    }

    /// Encodes the members that are set, then `extra`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(index, forKey: .index)
        try container.encode(output, forKey: .output)
        try container.encodeIfPresent(rawOutput, forKey: .rawOutput)
        try container.encodeIfPresent(inputs, forKey: .inputs)
        try container.encodeIfPresent(modelConfigId, forKey: .modelConfigId)
        try container.encodeIfPresent(finishReason, forKey: .finishReason)
        try container.encodeIfPresent(toolResults, forKey: .toolResults)
        try encodeExtraFields(extra, to: encoder, known: Self.known)
    }
}
