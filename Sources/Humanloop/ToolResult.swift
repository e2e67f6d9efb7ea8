/// One item of a data item's `tool_results`: the result of a tool run while generating.
public struct ToolResult: Codable, Sendable, Hashable {
    /// `id`.
    public var id: String
    /// `name`: the tool's name.
    public var name: String
    /// `signature`: the tool's signature.
    public var signature: String
    /// `result`: what the tool returned.
    public var result: String

    /// A tool result.
    public init(id: String, name: String, signature: String, result: String) {
        self.id = id
        self.name = name
        self.signature = signature
        self.result = result
    }
}
