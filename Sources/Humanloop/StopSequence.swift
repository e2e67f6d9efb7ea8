/// `model_config.stop`: one stop text or several.
public enum StopSequence: Codable, Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
    /// One stop text (a JSON string).
    case single(String)
    /// Several stop texts (a JSON array of strings).
    case multiple([String])

    /// A single stop text from a string literal.
    public init(stringLiteral value: String) { self = .single(value) }
    /// Several stop texts from an array literal.
    public init(arrayLiteral elements: String...) { self = .multiple(elements) }

    /// Decodes a string or an array of strings.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .single(text)
        } else {
            self = .multiple(try container.decode([String].self))
        }
    }

    /// Encodes a string or an array of strings.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .single(let text): try container.encode(text)
        case .multiple(let texts): try container.encode(texts)
        }
    }
}
