/// Checks a request body against its endpoint's fields and reports every problem.
///
/// Enforces what the official SDK enforces (types, required fields, enums, no unknown keys in
/// the body or in `model_config`) and nothing it leaves to the server.
public struct RequestValidator {
    /// Every problem of `body` for `endpoint`, in document order; empty when the body is valid.
    static func issues(in body: JanssonValue, for endpoint: Endpoint) -> [ValidationIssue] {
        guard body.isObject else {
            return [ValidationIssue(path: "", message: "the request must be a JSON object, not \(article(body.typeName))")]
        }
        var issues: [ValidationIssue] = []
        check(body, against: endpoint.fieldTable, prefix: "", container: endpoint.bodyName, into: &issues)
        return issues
    }

    /// Where a value is: its parent's path and its own key or index. The text is only made when
    /// a problem is reported (or a nested object is entered).
    private struct FieldPath {
        var parent: String
        var step: String
        var isIndex = false

        var text: String {
            if isIndex { return parent + "[" + step + "]" }
            return parent.isEmpty ? step : parent + "." + step
        }
    }

    private static func check(_ object: JanssonValue, against fields: FieldTable, prefix: String,
                              container: String, into issues: inout [ValidationIssue]) {
        for member in object.members {
            let path = FieldPath(parent: prefix, step: member.key)
            guard let field = fields.byName[member.key] else {
                issues.append(ValidationIssue(path: path.text, message: "\(path.text) is not a field of \(container)"))
                continue
            }
            check(member.value, as: field.type, path: path, into: &issues)
        }
        for field in fields.required where object[field.name] == nil {
            let path = FieldPath(parent: prefix, step: field.name).text
            issues.append(ValidationIssue(path: path, message: "\(path) is required"))
        }
    }

    private static func check(_ value: JanssonValue, as type: FieldType, path: FieldPath, into issues: inout [ValidationIssue]) {
        func mismatch(_ expected: String) {
            issues.append(ValidationIssue(path: path.text, message: "\(path.text) must be \(expected), not \(describe(value))"))
        }
        switch type {
        case .string:
            if value.isString { return }
            mismatch("a string")
        case .integer:
            if value.isInteger { return }
            mismatch("an integer")
        case .number:
            if value.isNumber { return }
            mismatch("a number")
        case .boolean:
            if value.isBoolean { return }
            mismatch("a boolean")
        case .object:
            if value.isObject { return }
            mismatch("an object")
        case .oneOf(let name, let values):
            guard let text = value.string else { return mismatch("a string") }
            if values.contains(text) { return }
            issues.append(ValidationIssue(
                path: path.text,
                message: "\(path.text) must be one of \(values.joined(separator: ", ")) (\(name)), not \(describe(value))"))
        case .stringOrStringArray:
            if value.isString { return }
            guard value.isArray else { return mismatch("a string or an array of strings") }
            for (index, element) in value.elements.enumerated() where !element.isString {
                check(element, as: .string, path: FieldPath(parent: path.text, step: String(index), isIndex: true), into: &issues)
            }
        case .modelConfig:
            guard value.isObject else { return mismatch("an object") }
            check(value, against: FieldTable.modelConfig, prefix: path.text, container: "model_config", into: &issues)
        case .providerKeys:
            // Values here are secrets: messages name the path and the type, never the value.
            guard value.isObject else {
                return issues.append(ValidationIssue(path: path.text, message: "\(path.text) must be an object, not \(article(value.typeName))"))
            }
            for member in value.members where ProviderKeys.names.contains(member.key) && !member.value.isString {
                let keyPath = FieldPath(parent: path.text, step: member.key).text
                issues.append(ValidationIssue(path: keyPath, message: "\(keyPath) must be a string, not \(article(member.value.typeName))"))
            }
        }
    }

    /// "a string (\"x\")", "null", "an integer (2)", ... for messages. Strings are cut short.
    static func describe(_ value: JanssonValue) -> String {
        if let text = value.string {
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return "a string (\"\(shown)\")"
        }
        if let number = value.numberText { return "\(article(value.typeName)) (\(number.prefix(40)))" }
        if value.isBoolean { return "a boolean (\(value.isTrue))" }
        return article(value.typeName)
    }

    static func article(_ typeName: String) -> String {
        switch typeName {
        case "null": return "null"
        case "integer", "array", "object": return "an \(typeName)"
        default: return "a \(typeName)"
        }
    }
}
