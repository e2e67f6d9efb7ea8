/// A `Decoder` over a parsed ``JSONValue``: the fast path of reading the C ABI's items (see
/// `Envelope.decode`). It reads the same values as Foundation's `JSONDecoder` would, but its
/// failures are plain (no coding path): on any error the caller decodes the bytes again with
/// `JSONDecoder`, whose error is the one reported. `null` and a missing member are both absent
/// for `decodeIfPresent`.
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Why the fast path gave up (never shown: the caller falls back to `JSONDecoder`).
    struct Mismatch: Error {}

    init(_ value: JSONValue) { self.value = value }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw Mismatch() }
        return KeyedDecodingContainer(Keyed<Key>(members: members))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw Mismatch() }
        return Unkeyed(elements: elements)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(value: value) }

    /// `value` as a `T`: numbers, strings and Booleans directly, anything else by its `init(from:)`.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        // The type checks make the casts exact (unsafeBitCast: no dynamic cast on this hot path).
        if T.self == JSONValue.self { return unsafeBitCast(value, to: T.self) }
        switch value {
        case .array(let elements):
            if T.self == [JSONValue].self { return unsafeBitCast(elements, to: T.self) }
        case .object(let members):
            if T.self == [String: JSONValue].self { return unsafeBitCast(members, to: T.self) }
        case .string(let text):
            if T.self == String.self { return unsafeBitCast(text, to: T.self) }
        case .integer(let integer):
            if T.self == Int.self, let result = Int(exactly: integer) { return unsafeBitCast(result, to: T.self) }
            if T.self == Int64.self { return unsafeBitCast(integer, to: T.self) }
            if T.self == Double.self { return unsafeBitCast(Double(integer), to: T.self) }
        case .number(let number):
            if T.self == Double.self { return unsafeBitCast(number, to: T.self) }
            if T.self == Int.self, let result = Int(exactly: number) { return unsafeBitCast(result, to: T.self) }
            if T.self == Int64.self, let result = Int64(exactly: number) { return unsafeBitCast(result, to: T.self) }
        case .bool(let flag):
            if T.self == Bool.self { return unsafeBitCast(flag, to: T.self) }
        default:
            break
        }
        // These read themselves through this function (a single value container): a mismatch.
        if T.self == String.self || T.self == Int.self || T.self == Int64.self || T.self == Double.self || T.self == Bool.self {
            throw Mismatch()
        }
        return try T(from: JSONValueDecoder(value))
    }

    /// The other fixed-width integers and `Float`, as `JSONDecoder` reads them.
    static func number<T: BinaryInteger>(_ type: T.Type, from value: JSONValue) throws -> T {
        switch value {
        case .integer(let integer): if let result = T(exactly: integer) { return result }
        case .number(let number): if let result = T(exactly: number) { return result }
        default: break
        }
        throw Mismatch()
    }

    static func float(from value: JSONValue) throws -> Float {
        switch value {
        case .integer(let integer): return Float(integer)
        case .number(let number):
            let result = Float(number)
            if result.isFinite { return result }
        default: break
        }
        throw Mismatch()
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

        private func member(_ key: Key) throws -> JSONValue {
            guard let value = members[key.stringValue] else { throw Mismatch() }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { try member(key) == .null }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try JSONValueDecoder.decode(type, from: member(key)) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try JSONValueDecoder.decode(type, from: member(key)) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try JSONValueDecoder.decode(type, from: member(key)) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try JSONValueDecoder.float(from: member(key)) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try JSONValueDecoder.decode(type, from: member(key)) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try JSONValueDecoder.number(type, from: member(key)) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try JSONValueDecoder.number(type, from: member(key)) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try JSONValueDecoder.number(type, from: member(key)) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try JSONValueDecoder.decode(type, from: member(key)) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try JSONValueDecoder.number(type, from: member(key)) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try JSONValueDecoder.number(type, from: member(key)) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try JSONValueDecoder.number(type, from: member(key)) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try JSONValueDecoder.number(type, from: member(key)) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try JSONValueDecoder.number(type, from: member(key)) }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try JSONValueDecoder.decode(type, from: member(key)) }

        // One lookup per member (the protocol's defaults look it up three times: contains,
        // decodeNil, decode). `null` and a missing member are both absent.
        private func present(_ key: Key) -> JSONValue? {
            guard let value = members[key.stringValue], value != .null else { return nil }
            return value
        }
        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key).map { try JSONValueDecoder.decode(type, from: $0) } }
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key).map { try JSONValueDecoder.decode(type, from: $0) } }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key).map { try JSONValueDecoder.decode(type, from: $0) } }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key).map { try JSONValueDecoder.decode(type, from: $0) } }
        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key).map { try JSONValueDecoder.decode(type, from: $0) } }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try present(key).map { try JSONValueDecoder.decode(type, from: $0) } }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try JSONValueDecoder(member(key)).container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try JSONValueDecoder(member(key)).unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder { JSONValueDecoder(members["super"] ?? .null) }
        func superDecoder(forKey key: Key) throws -> any Decoder { JSONValueDecoder(members[key.stringValue] ?? .null) }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        var codingPath: [any CodingKey] { [] }
        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }
        private(set) var currentIndex = 0

        init(elements: [JSONValue]) { self.elements = elements }

        private mutating func next() throws -> JSONValue {
            guard currentIndex < elements.count else { throw Mismatch() }
            defer { currentIndex += 1 }
            return elements[currentIndex]
        }

        mutating func decodeNil() throws -> Bool {
            guard currentIndex < elements.count else { throw Mismatch() }
            if elements[currentIndex] == .null {
                currentIndex += 1
                return true
            }
            return false
        }
        mutating func decode(_ type: Bool.Type) throws -> Bool { try JSONValueDecoder.decode(type, from: next()) }
        mutating func decode(_ type: String.Type) throws -> String { try JSONValueDecoder.decode(type, from: next()) }
        mutating func decode(_ type: Double.Type) throws -> Double { try JSONValueDecoder.decode(type, from: next()) }
        mutating func decode(_ type: Float.Type) throws -> Float { try JSONValueDecoder.float(from: next()) }
        mutating func decode(_ type: Int.Type) throws -> Int { try JSONValueDecoder.decode(type, from: next()) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try JSONValueDecoder.decode(type, from: next()) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try JSONValueDecoder.number(type, from: next()) }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONValueDecoder.decode(type, from: next()) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try JSONValueDecoder(next()).container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try JSONValueDecoder(next()).unkeyedContainer()
        }
        mutating func superDecoder() throws -> any Decoder { try JSONValueDecoder(next()) }
    }

    struct Single: SingleValueDecodingContainer {
        let value: JSONValue
        var codingPath: [any CodingKey] { [] }

        func decodeNil() -> Bool { value == .null }
        func decode(_ type: Bool.Type) throws -> Bool { try JSONValueDecoder.decode(type, from: value) }
        func decode(_ type: String.Type) throws -> String { try JSONValueDecoder.decode(type, from: value) }
        func decode(_ type: Double.Type) throws -> Double { try JSONValueDecoder.decode(type, from: value) }
        func decode(_ type: Float.Type) throws -> Float { try JSONValueDecoder.float(from: value) }
        func decode(_ type: Int.Type) throws -> Int { try JSONValueDecoder.decode(type, from: value) }
        func decode(_ type: Int8.Type) throws -> Int8 { try JSONValueDecoder.number(type, from: value) }
        func decode(_ type: Int16.Type) throws -> Int16 { try JSONValueDecoder.number(type, from: value) }
        func decode(_ type: Int32.Type) throws -> Int32 { try JSONValueDecoder.number(type, from: value) }
        func decode(_ type: Int64.Type) throws -> Int64 { try JSONValueDecoder.decode(type, from: value) }
        func decode(_ type: UInt.Type) throws -> UInt { try JSONValueDecoder.number(type, from: value) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try JSONValueDecoder.number(type, from: value) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try JSONValueDecoder.number(type, from: value) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try JSONValueDecoder.number(type, from: value) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try JSONValueDecoder.number(type, from: value) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONValueDecoder.decode(type, from: value) }
    }
}
