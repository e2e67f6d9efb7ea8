/// The text CPython 3 gives a float with `repr(x)` (and so with `json.dumps`, which uses
/// `float.__repr__`), so that request bodies carry the same digits as the official Python SDK.
///
/// CPython formats a float with `format_float_short(x, 'r', 0, Py_DTSF_ADD_DOT_0, ...)`:
/// - the digits are the shortest string that reads back as the same double (David Gay's mode 0);
///   these are the same digits Swift's `Double.description` prints, which is where they are taken
///   from here;
/// - with the value written `0.d1d2...dn × 10^decpt`, fixed notation is used when
///   `-4 < decpt <= 16`, scientific notation (`d.ddde±XX`, at least two exponent digits) otherwise;
/// - fixed notation of an integral value gets ".0"; negative zero is "-0.0".
///
/// Examples: `1.0`, `0.0001`, `1e-05`, `1000000000000000.0`, `1e+16`, `1.2345678901234568e+17`,
/// `5e-324`, `1.7976931348623157e+308`.
public enum PythonFloat {
    /// CPython's `repr` of a finite double.
    ///
    /// Non-finite input (infinity, NaN) has no JSON spelling and callers never pass one; it gives "0".
    /// Never traps.
    public static func repr(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        guard let parts = shortestDigits(of: value) else { return "0" }
        return format(negative: value.sign == .minus, digits: parts.digits, decimalPoint: parts.decimalPoint)
    }

    /// The shortest round-trip digits of a finite double, read from Swift's `description`:
    /// `digits` without leading or trailing zeros (empty for zero), and the value is
    /// `0.d1d2...dn × 10^decimalPoint`. Nil if the text has an unexpected shape.
    static func shortestDigits(of value: Double) -> (digits: [UInt8], decimalPoint: Int)? {
        let text = value.magnitude.description.utf8
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        var integerDigits = 0
        var seenPoint = false
        var exponent = 0
        var index = text.startIndex
        // Mantissa: digits with at most one '.'.
        while index != text.endIndex {
            let byte = text[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits.append(byte &- UInt8(ascii: "0"))
                if !seenPoint { integerDigits &+= 1 }
            } else if byte == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else {
                break
            }
            index = text.index(after: index)
        }
        guard !digits.isEmpty, digits.count <= 1000 else { return nil }
        // Optional exponent: 'e', optional sign, digits.
        if index != text.endIndex {
            guard text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") else { return nil }
            index = text.index(after: index)
            var negativeExponent = false
            if index != text.endIndex, text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+") {
                negativeExponent = text[index] == UInt8(ascii: "-")
                index = text.index(after: index)
            }
            var exponentDigits = 0
            while index != text.endIndex {
                let byte = text[index]
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                exponentDigits &+= 1
                guard exponentDigits <= 6 else { return nil }
                exponent = exponent &* 10 &+ Int(byte &- UInt8(ascii: "0"))
                index = text.index(after: index)
            }
            guard exponentDigits > 0 else { return nil }
            if negativeExponent { exponent = -exponent }
        }
        // Drop leading zeros (each moves the decimal point left) and trailing zeros.
        var decimalPoint = integerDigits &+ exponent
        var leading = 0
        while leading < digits.count && digits[leading] == 0 {
            leading &+= 1
            decimalPoint &-= 1
        }
        var end = digits.count
        while end > leading && digits[end &- 1] == 0 { end &-= 1 }
        if leading == end { return ([], 0) }
        return (Array(digits[leading..<end]), decimalPoint)
    }

    /// CPython's `format_float_short` layout in 'r' mode with `Py_DTSF_ADD_DOT_0`.
    static func format(negative: Bool, digits: [UInt8], decimalPoint: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        if negative { out.append(UInt8(ascii: "-")) }
        if digits.isEmpty {
            out.append(contentsOf: "0.0".utf8)
            return String(decoding: out, as: UTF8.self)
        }
        let ascii = digits.map { $0 &+ UInt8(ascii: "0") }
        let count = ascii.count
        if decimalPoint > -4 && decimalPoint <= 16 {
            if decimalPoint <= 0 {
                out.append(contentsOf: "0.".utf8)
                out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -decimalPoint))
                out.append(contentsOf: ascii)
            } else if decimalPoint >= count {
                out.append(contentsOf: ascii)
                out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: decimalPoint &- count))
                out.append(contentsOf: ".0".utf8)
            } else {
                out.append(contentsOf: ascii[0..<decimalPoint])
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: ascii[decimalPoint...])
            }
        } else {
            out.append(ascii[0])
            if count > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: ascii[1...])
            }
            let exponent = decimalPoint &- 1
            out.append(UInt8(ascii: "e"))
            out.append(UInt8(ascii: exponent < 0 ? "-" : "+"))
            let magnitude = exponent.magnitude
            if magnitude < 10 { out.append(UInt8(ascii: "0")) }
            out.append(contentsOf: String(magnitude).utf8)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
