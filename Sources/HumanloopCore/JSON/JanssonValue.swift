import CJansson

/// A borrowed node of a jansson tree, valid while its `JanssonDocument` lives.
///
/// The caller's request is validated, completed (stream flag, provider keys) and written from
/// jansson's tree directly: no Swift copy of the tree is made for it.
struct JanssonValue {
    let json: UnsafeMutablePointer<json_t>

    /// The JSON type name used in messages (the same names as `JSONValue.typeName`).
    var typeName: String {
        switch json.pointee.type {
        case JSON_OBJECT: return "object"
        case JSON_ARRAY: return "array"
        case JSON_STRING: return "string"
        case JSON_INTEGER: return "integer"
        case JSON_REAL: return "number"
        case JSON_TRUE, JSON_FALSE: return "boolean"
        default: return "null"
        }
    }

    var isObject: Bool { json.pointee.type == JSON_OBJECT }
    var isString: Bool { json.pointee.type == JSON_STRING }
    var isArray: Bool { json.pointee.type == JSON_ARRAY }
    var isInteger: Bool { json.pointee.type == JSON_INTEGER }
    var isNumber: Bool { json.pointee.type == JSON_INTEGER || json.pointee.type == JSON_REAL }
    var isBoolean: Bool { json.pointee.type == JSON_TRUE || json.pointee.type == JSON_FALSE }
    var isTrue: Bool { json.pointee.type == JSON_TRUE }

    /// The text of a string value.
    var string: String? {
        guard json.pointee.type == JSON_STRING, let text = json_string_value(json) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: json_string_length(json)), as: UTF8.self)
    }

    /// A number as the library writes it: an integer, or a real in Python's repr form.
    var numberText: String? {
        switch json.pointee.type {
        case JSON_INTEGER: return String(json_integer_value(json))
        case JSON_REAL: return PythonFloat.repr(json_real_value(json))
        default: return nil
        }
    }

    /// The member named `key` of an object.
    subscript(key: String) -> JanssonValue? {
        var key = key
        return key.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { name in
                json_object_getn(json, name.baseAddress, name.count).map(JanssonValue.init(json:))
            }
        }
    }

    /// The members of an object, in order.
    var members: [(key: String, value: JanssonValue)] {
        var result: [(key: String, value: JanssonValue)] = []
        var iterator = json_object_iter(json)
        while let current = iterator {
            guard let key = json_object_iter_key(current), let value = json_object_iter_value(current) else { break }
            let name = String(decoding: UnsafeRawBufferPointer(start: key, count: json_object_iter_key_len(current)), as: UTF8.self)
            result.append((name, JanssonValue(json: value)))
            iterator = json_object_iter_next(json, current)
        }
        return result
    }

    /// The elements of an array, in order.
    var elements: [JanssonValue] {
        (0..<json_array_size(json)).compactMap { json_array_get(json, $0).map(JanssonValue.init(json:)) }
    }

    /// Sets (in place, or appended at the end) the member `key` of an object to a new value
    /// this object takes over. Returns the member, or nil when jansson could not set it.
    @discardableResult
    func set(_ key: String, _ value: UnsafeMutablePointer<json_t>?) -> JanssonValue? {
        guard let value else { return nil }
        var key = key
        let status = key.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { name in json_object_setn_new(json, name.baseAddress, name.count, value) }
        }
        return status == 0 ? JanssonValue(json: value) : nil
    }

    /// A new jansson `true` (for `set`).
    static func makeTrue() -> UnsafeMutablePointer<json_t>? { json_true() }

    /// A new, empty jansson object (for `set`).
    static func makeObject() -> UnsafeMutablePointer<json_t>? { json_object() }

    /// A new jansson string (for `set`).
    static func makeString(_ text: String) -> UnsafeMutablePointer<json_t>? {
        var text = text
        return text.withUTF8 { bytes in bytes.withMemoryRebound(to: CChar.self) { json_stringn($0.baseAddress, $0.count) } }
    }

    /// Appends the compact JSON of this value: keys in order, strings as raw UTF-8 with the
    /// needed escapes, numbers as `numberText`.
    func write(to output: inout [UInt8]) {
        switch json.pointee.type {
        case JSON_OBJECT:
            output.append(UInt8(ascii: "{"))
            var first = true
            var iterator = json_object_iter(json)
            while let current = iterator {
                guard let key = json_object_iter_key(current), let value = json_object_iter_value(current) else { break }
                if !first { output.append(UInt8(ascii: ",")) }
                first = false
                JSONSerializer.writeString(UnsafeRawBufferPointer(start: key, count: json_object_iter_key_len(current)), to: &output)
                output.append(UInt8(ascii: ":"))
                JanssonValue(json: value).write(to: &output)
                iterator = json_object_iter_next(json, current)
            }
            output.append(UInt8(ascii: "}"))
        case JSON_ARRAY:
            output.append(UInt8(ascii: "["))
            for index in 0..<json_array_size(json) {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                if let element = json_array_get(json, index) { JanssonValue(json: element).write(to: &output) }
            }
            output.append(UInt8(ascii: "]"))
        case JSON_STRING:
            JSONSerializer.writeString(UnsafeRawBufferPointer(start: json_string_value(json), count: json_string_length(json)), to: &output)
        case JSON_INTEGER:
            JSONSerializer.writeInteger(Int(json_integer_value(json)), to: &output)
        case JSON_REAL:
            output.append(contentsOf: PythonFloat.repr(json_real_value(json)).utf8)
        case JSON_TRUE:
            output.append(contentsOf: "true".utf8)
        case JSON_FALSE:
            output.append(contentsOf: "false".utf8)
        default:
            output.append(contentsOf: "null".utf8)
        }
    }
}
