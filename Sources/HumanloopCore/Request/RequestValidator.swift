/// Checks a request body against its endpoint's fields and reports every problem.
///
/// Enforces what the official SDK enforces (types, required fields, enums, no unknown keys in
/// the body or in `model_config`) and nothing it leaves to the server.
public struct RequestValidator {
    /// Every problem of `body` for `endpoint`, in document order; empty when the body is valid.
    public static func issues(in body: JSONValue, for endpoint: Endpoint) -> [ValidationIssue] {
        guard case .object(let object) = body else {
            return [ValidationIssue(path: "", message: "the request must be a JSON object, not \(article(body.typeName))")]
        }
        var issues: [ValidationIssue] = []
        check(object, against: endpoint.fields, prefix: "", container: endpoint.bodyName, into: &issues)
        return issues
    }

    private static func check(_ object: JSONObject, against fields: [FieldSpec], prefix: String,
                              container: String, into issues: inout [ValidationIssue]) {
        for member in object {
            let path = prefix + member.key
            guard let field = fields.first(where: { $0.name == member.key }) else {
                issues.append(ValidationIssue(path: path, message: "\(path) is not a field of \(container)"))
                continue
            }
            check(member.value, as: field.type, path: path, into: &issues)
        }
        for field in fields where field.required && object[field.name] == nil {
            let path = prefix + field.name
            issues.append(ValidationIssue(path: path, message: "\(path) is required"))
        }
    }

    private static func check(_ value: JSONValue, as type: FieldType, path: String, into issues: inout [ValidationIssue]) {
        func mismatch(_ expected: String) {
            issues.append(ValidationIssue(path: path, message: "\(path) must be \(expected), not \(describe(value))"))
        }
        switch type {
        case .string:
            if case .string = value { return }
            mismatch("a string")
        case .integer:
            if case .number(let number) = value, number.isInteger { return }
            mismatch("an integer")
        case .number:
            if case .number = value { return }
            mismatch("a number")
        case .boolean:
            if case .bool = value { return }
            mismatch("a boolean")
        case .object:
            if case .object = value { return }
            mismatch("an object")
        case .oneOf(let name, let values):
            guard case .string(let text) = value else { return mismatch("a string") }
            if values.contains(text) { return }
            issues.append(ValidationIssue(
                path: path,
                message: "\(path) must be one of \(values.joined(separator: ", ")) (\(name)), not \(describe(value))"))
        case .stringOrStringArray:
            switch value {
            case .string: return
            case .array(let elements):
                for (index, element) in elements.enumerated() {
                    check(element, as: .string, path: "\(path)[\(index)]", into: &issues)
                }
            default: mismatch("a string or an array of strings")
            }
        case .modelConfig:
            guard case .object(let object) = value else { return mismatch("an object") }
            check(object, against: FieldSpec.modelConfig, prefix: path + ".", container: "model_config", into: &issues)
        case .providerKeys:
            guard case .object(let object) = value else { return mismatch("an object") }
            for member in object where ProviderKeys.names.contains(member.key) {
                check(member.value, as: .string, path: path + "." + member.key, into: &issues)
            }
        }
    }

    /// "a string (\"x\")", "null", "an integer (2)", ... for messages. Strings are cut short.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return "a boolean (\(flag))"
        case .number(let number): return "\(article(value.typeName)) (\(number.text.prefix(40)))"
        case .string(let text):
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return "a string (\"\(shown)\")"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    static func article(_ typeName: String) -> String {
        switch typeName {
        case "null": return "null"
        case "integer", "array", "object": return "an \(typeName)"
        default: return "a \(typeName)"
        }
    }
}
