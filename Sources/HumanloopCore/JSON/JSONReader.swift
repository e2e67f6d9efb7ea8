import CJansson

/// Reads JSON with jansson: the one place where JSON text becomes values.
///
/// Every JSON text the library receives (configuration, requests, server bodies and events) is
/// read here. `check` only validates (for answers passed through byte-exact; `JSONValidator`
/// first); `parse` also turns jansson's tree into a `JSONValue` and frees the tree. jansson
/// checks UTF-8, strings, nesting (up to 2048 levels) and trailing data; strings may hold
/// `\u0000`. Objects keep their key order (a repeated key keeps the last value in the first
/// place).
public enum JSONReader {
    /// Deepest nesting turned into a `JSONValue` (keeps the recursion of the conversion small).
    public static let maximumDepth = 512

    /// How integers beyond 64 bits are read.
    public enum BigIntegers: Sendable {
        /// They are an error (`isNumericOverflow`): requests, whose integers must stay integers.
        case fail
        /// When the text has one, every integer of the document is read as a double instead
        /// (server answers and configuration: nothing there may fail for that reason).
        case asDoubles
    }

    /// Parses a complete document of any JSON type.
    public static func parse(_ bytes: UnsafeRawBufferPointer, bigIntegers: BigIntegers = .asDoubles) throws(JSONParseError) -> JSONValue {
        let root = try load(bytes, bigIntegers: bigIntegers)
        defer { json_decref(root) }
        return try value(of: root, depth: 0)
    }

    /// Parses a complete document from an array of bytes.
    public static func parse(_ bytes: [UInt8], bigIntegers: BigIntegers = .asDoubles) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { buffer in
            do throws(JSONParseError) { return .success(try parse(buffer, bigIntegers: bigIntegers)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Parses a complete document from a string.
    public static func parse(_ text: String, bigIntegers: BigIntegers = .asDoubles) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), bigIntegers: bigIntegers)
    }

    /// Parses a complete document and keeps it as jansson's tree (for the request, which is
    /// validated, completed and written from the tree itself).
    static func document(_ bytes: [UInt8], bigIntegers: BigIntegers) throws(JSONParseError) -> JanssonDocument {
        let result: Result<UnsafeMutablePointer<json_t>, JSONParseError> = bytes.withUnsafeBytes { buffer in
            do throws(JSONParseError) { return .success(try load(buffer, bigIntegers: bigIntegers)) } catch { return .failure(error) }
        }
        return JanssonDocument(owning: try result.get())
    }

    /// Checks that `bytes` are one complete JSON document and returns its type name ("object",
    /// "array", "string", "integer", "number", "boolean", "null"), without building a value.
    /// `JSONValidator` answers first (jansson reads the same documents about twenty times
    /// slower); jansson decides whatever it does not accept, and words the error.
    public static func check(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> String {
        if let name = JSONValidator.typeName(of: bytes) { return name }
        let root = try load(bytes, bigIntegers: .asDoubles)
        defer { json_decref(root) }
        return JanssonValue(json: root).typeName
    }

    /// Checks an array of bytes (see `check(_:)`).
    public static func check(_ bytes: [UInt8]) throws(JSONParseError) -> String {
        let result: Result<String, JSONParseError> = bytes.withUnsafeBytes { buffer in
            do throws(JSONParseError) { return .success(try check(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// What an empty buffer (no base address) is read from.
    private static var emptyText: UnsafePointer<CChar> {
        UnsafeRawPointer(("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
    }

    private static func load(_ bytes: UnsafeRawBufferPointer, bigIntegers: BigIntegers) throws(JSONParseError) -> UnsafeMutablePointer<json_t> {
        let flags = Int(JSON_DECODE_ANY | JSON_ALLOW_NUL)
        var error = json_error_t()
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyText
        if let root = json_loadb(base, bytes.count, flags, &error) { return root }
        var failure = parseError(error)
        if failure.isNumericOverflow && bigIntegers == .asDoubles {
            if let root = json_loadb(base, bytes.count, flags | Int(JSON_DECODE_INT_AS_REAL), &error) { return root }
            failure = parseError(error)
        }
        throw failure
    }

    private static func parseError(_ error: json_error_t) -> JSONParseError {
        var error = error
        let reason = withUnsafeBytes(of: &error.text) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return JSONParseError(reason: reason, offset: max(0, Int(error.position)),
                              isNumericOverflow: json_error_code(&error) == json_error_numeric_overflow)
    }

    /// jansson's value as a `JSONValue`.
    private static func value(of json: UnsafeMutablePointer<json_t>, depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maximumDepth else {
            throw JSONParseError(reason: "nesting deeper than \(maximumDepth) levels", offset: 0, isNumericOverflow: false)
        }
        switch json.pointee.type {
        case JSON_OBJECT:
            var members: [(key: String, value: JSONValue)] = []
            members.reserveCapacity(json_object_size(json))
            var iterator = json_object_iter(json)
            while let current = iterator {
                guard let key = json_object_iter_key(current), let member = json_object_iter_value(current) else { break }
                let length = json_object_iter_key_len(current)
                let name = String(decoding: UnsafeRawBufferPointer(start: key, count: length), as: UTF8.self)
                members.append((key: name, value: try value(of: member, depth: depth + 1)))
                iterator = json_object_iter_next(json, current)
            }
            return .object(JSONObject(distinctMembers: members))
        case JSON_ARRAY:
            let count = json_array_size(json)
            var elements: [JSONValue] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                guard let element = json_array_get(json, index) else { continue }
                elements.append(try value(of: element, depth: depth + 1))
            }
            return .array(elements)
        case JSON_STRING:
            guard let text = json_string_value(json) else { return .string("") }
            return .string(String(decoding: UnsafeRawBufferPointer(start: text, count: json_string_length(json)), as: UTF8.self))
        case JSON_INTEGER:
            return .number(JSONNumber(Int(json_integer_value(json))))
        case JSON_REAL:
            return .number(JSONNumber(json_real_value(json)))
        case JSON_TRUE:
            return .bool(true)
        case JSON_FALSE:
            return .bool(false)
        default:
            return .null
        }
    }
}
