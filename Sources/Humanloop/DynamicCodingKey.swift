/// A coding key of any name: reads and writes the members a type does not declare (`extra`).
struct DynamicCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The members of the object being decoded whose names are not in `known`.
func decodeExtraFields(from decoder: any Decoder, known: Set<String>) throws -> [String: JSONValue] {
    if let fast = decoder as? JSONValueDecoder, case .object(let members) = fast.value {   // the C ABI's items
        var extra: [String: JSONValue] = [:]
        for (name, value) in members where !known.contains(name) { extra[name] = value }
        return extra
    }
    let container = try decoder.container(keyedBy: DynamicCodingKey.self)
    var extra: [String: JSONValue] = [:]
    for key in container.allKeys where !known.contains(key.stringValue) {
        extra[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
    }
    return extra
}

/// Writes `extra`'s members into the object being encoded (a member named in `known` is skipped:
/// the declared field wins).
func encodeExtraFields(_ extra: [String: JSONValue], to encoder: any Encoder, known: Set<String>) throws {
    guard !extra.isEmpty else { return }
    var container = encoder.container(keyedBy: DynamicCodingKey.self)
    for (name, value) in extra where !known.contains(name) {
        try container.encode(value, forKey: DynamicCodingKey(stringValue: name))
    }
}
