/// The JSON shape one field accepts.
public indirect enum FieldType: Sendable {
    case string
    case integer
    case number
    case boolean
    case object
    case oneOf(name: String, values: [String])
    case stringOrStringArray
    case modelConfig
    case providerKeys
}
