/// A quick check that bytes are one JSON document, without building anything: the fast path of
/// `JSONReader.check` for the answers and events passed through byte-exact.
///
/// It is sound, not complete: whatever it accepts, jansson (as `JSONReader` calls it) accepts
/// too. It leaves to jansson, which then decides and words the error, anything malformed and the
/// cases where jansson's rules go beyond JSON's grammar:
/// - a number that could overflow a double (more than 300 digits before the point, or an
///   exponent beyond 200), and a number as the whole document (its type name depends on its
///   range);
/// - nesting deeper than `maximumDepth` (jansson's limit is 2048);
/// - `\u0000` in an object key (jansson takes it in strings only).
/// Strings are checked as jansson checks them: UTF-8 without overlong forms, surrogates or code
/// points past U+10FFFF; no control character unescaped; `\u` escapes with surrogates in pairs.
enum JSONValidator {
    static let maximumDepth = 512

    /// The type name of the document ("object", "array", "string", "boolean" or "null"), or nil
    /// when the bytes are not JSON or are left to jansson.
    static func typeName(of bytes: UnsafeRawBufferPointer) -> String? {
        var scanner = Scanner(bytes: bytes)
        return scanner.document()
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        /// Open containers, innermost last: true for an object.
        var open: [Bool] = []

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func document() -> String? {
            skipSpace()
            let name: String
            switch current {
            case UInt8(ascii: "{"): name = "object"
            case UInt8(ascii: "["): name = "array"
            case UInt8(ascii: "\""): name = "string"
            case UInt8(ascii: "t"), UInt8(ascii: "f"): name = "boolean"
            case UInt8(ascii: "n"): name = "null"
            default: return nil
            }
            guard value() else { return nil }
            skipSpace()
            return index == bytes.count ? name : nil
        }

        /// One complete value (containers iteratively, with `open` as the stack).
        private mutating func value() -> Bool {
            while true {
                skipSpace()
                guard let byte = current else { return false }
                switch byte {
                case UInt8(ascii: "{"):
                    guard open.count < JSONValidator.maximumDepth else { return false }
                    index += 1
                    skipSpace()
                    if current == UInt8(ascii: "}") {
                        index += 1
                    } else {
                        open.append(true)
                        guard member() else { return false }
                        continue
                    }
                case UInt8(ascii: "["):
                    guard open.count < JSONValidator.maximumDepth else { return false }
                    index += 1
                    skipSpace()
                    if current == UInt8(ascii: "]") {
                        index += 1
                    } else {
                        open.append(false)
                        continue
                    }
                case UInt8(ascii: "\""):
                    guard string(isKey: false) else { return false }
                case UInt8(ascii: "t"):
                    guard literal("true") else { return false }
                case UInt8(ascii: "f"):
                    guard literal("false") else { return false }
                case UInt8(ascii: "n"):
                    guard literal("null") else { return false }
                default:
                    guard !open.isEmpty, number() else { return false }
                }
                // A value ended: close what ends with it, then expect the next value, if any.
                while true {
                    guard let isObject = open.last else { return true }
                    skipSpace()
                    guard let next = current else { return false }
                    if next == UInt8(ascii: ",") {
                        index += 1
                        if isObject {
                            skipSpace()
                            guard member() else { return false }
                        }
                        break
                    }
                    guard next == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { return false }
                    index += 1
                    open.removeLast()
                }
            }
        }

        /// A key and its colon (the value follows).
        private mutating func member() -> Bool {
            guard current == UInt8(ascii: "\""), string(isKey: true) else { return false }
            skipSpace()
            guard current == UInt8(ascii: ":") else { return false }
            index += 1
            return true
        }

        private mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
            index += count
            return true
        }

        /// A string from its opening quote.
        private mutating func string(isKey: Bool) -> Bool {
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return true
                case UInt8(ascii: "\\"):
                    guard escape(isKey: isKey) else { return false }
                case 0..<0x20:
                    return false
                case 0x20..<0x80:
                    index += 1
                default:
                    guard multiByteCharacter() else { return false }
                }
            }
            return false
        }

        /// An escape from its backslash.
        private mutating func escape(isKey: Bool) -> Bool {
            guard index + 1 < bytes.count else { return false }
            switch bytes[index + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                index += 2
                return true
            case UInt8(ascii: "u"):
                guard let unit = hexUnit(at: index + 2) else { return false }
                index += 6
                switch unit {
                case 0:
                    return !isKey
                case 0xD800...0xDBFF:
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                          let low = hexUnit(at: index + 2), (0xDC00...0xDFFF).contains(low) else { return false }
                    index += 6
                    return true
                case 0xDC00...0xDFFF:
                    return false
                default:
                    return true
                }
            default:
                return false
            }
        }

        /// The four hex digits at `start`, or nil.
        private func hexUnit(at start: Int) -> UInt32? {
            guard start <= bytes.count - 4 else { return nil }
            var unit: UInt32 = 0
            for offset in 0..<4 {
                let byte = bytes[start + offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                unit = unit << 4 | UInt32(digit)
            }
            return unit
        }

        /// A UTF-8 sequence of two to four bytes: no overlong form, no surrogate, at most U+10FFFF.
        private mutating func multiByteCharacter() -> Bool {
            let first = bytes[index]
            let length: Int
            var scalar: UInt32
            switch first {
            case 0xC2...0xDF: length = 2; scalar = UInt32(first & 0x1F)
            case 0xE0...0xEF: length = 3; scalar = UInt32(first & 0x0F)
            case 0xF0...0xF4: length = 4; scalar = UInt32(first & 0x07)
            default: return false
            }
            guard index <= bytes.count - length else { return false }
            for offset in 1..<length {
                let next = bytes[index + offset]
                guard next & 0xC0 == 0x80 else { return false }
                scalar = scalar << 6 | UInt32(next & 0x3F)
            }
            switch length {
            case 3: guard scalar >= 0x800, !(0xD800...0xDFFF).contains(scalar) else { return false }
            case 4: guard scalar >= 0x10000, scalar <= 0x10FFFF else { return false }
            default: break
            }
            index += length
            return true
        }

        /// A number inside a container (JSON's grammar), within the range left to this check.
        private mutating func number() -> Bool {
            if current == UInt8(ascii: "-") { index += 1 }
            let integerDigits = digits()
            guard integerDigits > 0, integerDigits == 1 || bytes[index - integerDigits] != UInt8(ascii: "0") else { return false }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return false }
            }
            guard current == UInt8(ascii: "e") || current == UInt8(ascii: "E") else { return integerDigits <= 300 }
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            let start = index
            let exponentDigits = digits()
            guard exponentDigits > 0, exponentDigits <= 3, integerDigits <= 100 else { return false }
            var exponent = 0
            for offset in start..<index { exponent = exponent * 10 + Int(bytes[offset] - UInt8(ascii: "0")) }
            return exponent <= 200
        }

        /// Skips decimal digits; returns how many.
        private mutating func digits() -> Int {
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - start
        }
    }
}
