/// A JSON number kept as the text to write: an integer, or a real in Python `repr` form.
public struct JSONNumber: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The number exactly as written.
    public let text: String

    /// A number from an integer.
    public init(_ value: Int) { self.text = String(value) }

    /// A number from a finite double, written as Python's `repr` writes it (the shortest text
    /// that reads back the same: `0.7`, `1e-07`, `1.0`, `1e+20`), as the official SDK sends it.
    /// Non-finite values (which JSON cannot express) are written as 0.
    public init(_ value: Double) {
        self.text = PythonFloat.repr(value)
    }

    /// A duration in seconds, to the microsecond, in fixed notation ("0.000262", "1.5"):
    /// cheaper than `init(_: Double)` for the timings of every envelope. Not finite: 0.
    public init(seconds: Double) {
        var bytes: [UInt8] = []
        JSONSerializer.writeSeconds(seconds, to: &bytes)
        self.text = String(decoding: bytes, as: UTF8.self)
    }

    /// True when the literal has no fraction and no exponent (`2`, `-1`; not `2.0`, `1e3`).
    public var isInteger: Bool {
        !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// The value as a double (may round for long literals).
    public var doubleValue: Double? { Double(text) }

    /// The value as a 64-bit integer, when it is an integer literal in range.
    public var intValue: Int? { isInteger ? Int(text) : nil }

    public var description: String { text }
}
