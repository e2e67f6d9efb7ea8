import Foundation

/// An `Encoder` that writes JSON text in one pass, with no intermediate tree: the fast path of
/// encoding a request (see `HumanloopClient.requestJSON`).
///
/// It writes what Foundation's `JSONEncoder` (with `.withoutEscapingSlashes`) writes, up to key
/// order, for the shapes the request types use: keyed containers (one object per encoder, which
/// may be asked for more than once, as `encodeExtraFields` does), unkeyed containers and single
/// values. Anything else — a nested container, a super encoder, a non-finite number, Foundation's
/// special types (`Date`, `Data`, `URL`, `Decimal`), a value that encodes nothing or twice — makes
/// ``encode(_:)`` return nil, and the caller encodes with `JSONEncoder`, whose result or error is
/// the one used. An object's members are written in the order they are encoded; the types
/// never encode a key twice (dictionaries have unique keys, `extra` skips the known ones).
struct JSONBytesEncoder {
    /// `value` as JSON text, or nil when the fast path does not handle it (see above).
    static func encode<T: Encodable>(_ value: T) -> [UInt8]? {
        let output = Output()
        output.bytes.reserveCapacity(512)
        let encoder = ValueEncoder(output)
        do {
            try encoder.write(value)
        } catch {
            return nil
        }
        return output.failed ? nil : output.bytes
    }

    /// `text` as a JSON string literal, for JSON written by hand (a call's options).
    static func quoted(_ text: String) -> String {
        let output = Output()
        output.appendQuoted(text)
        return String(decoding: output.bytes, as: UTF8.self)
    }

    /// The text being written, shared by every encoder and container of one `encode(_:)`.
    final class Output {
        var bytes: [UInt8] = []
        /// Set when a shape outside the fast path was met: the result is thrown away.
        var failed = false

        func append(_ byte: UInt8) { bytes.append(byte) }

        func append(_ text: StaticString) {
            text.withUTF8Buffer { bytes.append(contentsOf: $0) }
        }

        /// `text` as a JSON string literal, escaped as `JSONEncoder` escapes it.
        func appendQuoted(_ text: String) {
            bytes.append(UInt8(ascii: "\""))
            var text = text
            let plain = text.withUTF8 { utf8 in
                // The common case: nothing to escape, the bytes go in at once.
                guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
                bytes.append(contentsOf: utf8)
                return true
            }
            if plain {
                bytes.append(UInt8(ascii: "\""))
                return
            }
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): append("\\\"")
                case UInt8(ascii: "\\"): append("\\\\")
                case 0x0A: append("\\n")
                case 0x0D: append("\\r")
                case 0x09: append("\\t")
                case 0x08: append("\\b")
                case 0x0C: append("\\f")
                case 0..<0x20:
                    append("\\u00")
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0x0F)])
                default:
                    bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }

        func appendInteger<T: FixedWidthInteger>(_ value: T) {
            bytes.append(contentsOf: String(value).utf8)
        }

        /// A floating-point number's `description` as `JSONEncoder` writes it (`3.0` as `3`);
        /// `nan`, `inf` and `-inf` fail the fast path (JSON has no such numbers).
        func appendNumber(_ description: String) {
            var text = description
            guard let last = text.utf8.last, last >= UInt8(ascii: "0"), last <= UInt8(ascii: "9") else {
                failed = true
                return
            }
            if text.hasSuffix(".0") { text.removeLast(2) }
            bytes.append(contentsOf: text.utf8)
        }

        private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    }

    /// The encoder of one value: it writes the container the value asks for, and
    /// `write(_:)` closes it once the value's `encode(to:)` has returned.
    final class ValueEncoder: Encoder {
        enum State { case empty, object, array, single }

        /// Deeper values fail the fast path (a type whose `encode(to:)` never ends also stops here).
        static let maximumDepth = 512

        let output: Output
        /// How many values enclose this one.
        let depth: Int
        var state = State.empty
        /// Whether the open object or array has a member already (a comma goes before the next).
        var hasMember = false
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        init(_ output: Output, depth: Int = 0) {
            self.output = output
            self.depth = depth
        }

        /// Writes a value inside this one: a scalar directly, anything else with its own encoder.
        func writeMember<T: Encodable>(_ value: T) throws {
            if writeScalar(value) { return }
            try ValueEncoder(output, depth: depth + 1).write(value)
        }

        /// Encodes `value` at the output's current position.
        func write<T: Encodable>(_ value: T) throws {
            if writeScalar(value) { return }
            if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self || depth > Self.maximumDepth {
                output.failed = true
                return
            }
            try value.encode(to: self)
            switch state {
            case .empty: output.failed = true        // JSONEncoder: an empty object, or an error at the top
            case .object: output.append(UInt8(ascii: "}"))
            case .array: output.append(UInt8(ascii: "]"))
            case .single: if !hasMember { output.failed = true }
            }
        }

        /// Writes a string, number or Boolean directly and returns true; false for other types.
        /// (The type checks make the casts exact: no dynamic cast on this hot path.)
        func writeScalar<T: Encodable>(_ value: T) -> Bool {
            if T.self == String.self { output.appendQuoted(unsafeBitCast(value, to: String.self)) }
            else if T.self == Int.self { output.appendInteger(unsafeBitCast(value, to: Int.self)) }
            else if T.self == Bool.self { output.append(unsafeBitCast(value, to: Bool.self) ? "true" : "false") }
            else if T.self == Double.self { output.appendNumber(unsafeBitCast(value, to: Double.self).description) }
            else if T.self == Int64.self { output.appendInteger(unsafeBitCast(value, to: Int64.self)) }
            else if T.self == Float.self { output.appendNumber(unsafeBitCast(value, to: Float.self).description) }
            else if T.self == Int32.self { output.appendInteger(unsafeBitCast(value, to: Int32.self)) }
            else if T.self == Int16.self { output.appendInteger(unsafeBitCast(value, to: Int16.self)) }
            else if T.self == Int8.self { output.appendInteger(unsafeBitCast(value, to: Int8.self)) }
            else if T.self == UInt.self { output.appendInteger(unsafeBitCast(value, to: UInt.self)) }
            else if T.self == UInt64.self { output.appendInteger(unsafeBitCast(value, to: UInt64.self)) }
            else if T.self == UInt32.self { output.appendInteger(unsafeBitCast(value, to: UInt32.self)) }
            else if T.self == UInt16.self { output.appendInteger(unsafeBitCast(value, to: UInt16.self)) }
            else if T.self == UInt8.self { output.appendInteger(unsafeBitCast(value, to: UInt8.self)) }
            else { return false }
            return true
        }

        /// Starts the next member or element: the comma, when one is needed.
        func nextMember() {
            if hasMember { output.append(UInt8(ascii: ",")) }
            hasMember = true
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            switch state {
            case .empty:
                state = .object
                output.append(UInt8(ascii: "{"))
            case .object:
                break
            case .array, .single:
                output.failed = true
            }
            return KeyedEncodingContainer(Keyed<Key>(encoder: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if state == .empty {
                state = .array
                output.append(UInt8(ascii: "["))
            } else {
                output.failed = true
            }
            return Unkeyed(encoder: self)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            if state == .empty {
                state = .single
            } else {
                output.failed = true
            }
            return Single(encoder: self)
        }

        /// Writes a value of this encoder's single value container (once).
        func writeSingle<T: Encodable>(_ value: T) throws {
            guard state == .single, !hasMember else {
                output.failed = true
                return
            }
            hasMember = true
            try writeMember(value)
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { [] }

        private func key(_ key: Key) {
            encoder.nextMember()
            encoder.output.appendQuoted(key.stringValue)
            encoder.output.append(UInt8(ascii: ":"))
        }

        mutating func encodeNil(forKey key: Key) throws {
            self.key(key)
            encoder.output.append("null")
        }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            self.key(key)
            try encoder.writeMember(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            encoder.output.failed = true
            return ValueEncoder(Output()).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            encoder.output.failed = true
            return ValueEncoder(Output()).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            encoder.output.failed = true
            return ValueEncoder(Output())
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            encoder.output.failed = true
            return ValueEncoder(Output())
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let encoder: ValueEncoder
        private(set) var count = 0
        var codingPath: [any CodingKey] { [] }

        init(encoder: ValueEncoder) { self.encoder = encoder }

        mutating func encodeNil() throws {
            encoder.nextMember()
            count += 1
            encoder.output.append("null")
        }

        mutating func encode<T: Encodable>(_ value: T) throws {
            encoder.nextMember()
            count += 1
            try encoder.writeMember(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            encoder.output.failed = true
            return ValueEncoder(Output()).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            encoder.output.failed = true
            return ValueEncoder(Output()).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            encoder.output.failed = true
            return ValueEncoder(Output())
        }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws {
            guard encoder.state == .single, !encoder.hasMember else {
                encoder.output.failed = true
                return
            }
            encoder.hasMember = true
            encoder.output.append("null")
        }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try encoder.writeSingle(value)
        }
    }
}
