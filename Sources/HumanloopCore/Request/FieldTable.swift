/// The fields of one object (a body, or `model_config`) by name, and the required ones in order.
struct FieldTable: Sendable {
    let byName: [String: FieldSpec]
    let required: [FieldSpec]

    init(_ fields: [FieldSpec]) {
        byName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        required = fields.filter(\.required)
    }

    /// The fields of `model_config`.
    static let modelConfig = FieldTable(FieldSpec.modelConfig)
}
