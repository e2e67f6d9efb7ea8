import CJansson

/// Why a text is not JSON (jansson's words), and where.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong, e.g. "'[' or '{' expected near 'x'".
    public let reason: String
    /// Byte offset where jansson found the problem.
    public let offset: Int
    /// True when the problem is a number beyond what jansson holds (an integer beyond 64 bits,
    /// a real beyond the range of a double).
    public let isNumericOverflow: Bool

    public var description: String { "\(reason) at byte \(offset)" }

    /// This error for `text`, without the text jansson quotes ("near '...'") when `text` may
    /// hold a secret (it names an `api_key`, as `provider_api_keys` and the configuration's
    /// `*_api_key` keys do): an unparsable text has no paths, so nothing there is quoted.
    public func quotingNothingSecret(of text: [UInt8]) -> JSONParseError {
        guard text.firstRange(of: Self.secretKeyMark) != nil, let near = reason.firstRange(of: " near '") else { return self }
        return JSONParseError(reason: String(reason[..<near.lowerBound]), offset: offset, isNumericOverflow: isNumericOverflow)
    }

    private static let secretKeyMark = Array("api_key".utf8)

    /// The reason for a request's text, with what it means for the caller when jansson refused an
    /// object key holding U+0000 (which it cannot hold, whatever the flags; the official SDK
    /// sends such a key: a documented difference).
    public var requestReason: String {
        guard reason.hasPrefix("NUL byte in object key") else { return description }
        return "an object key contains U+0000 (\\u0000) at byte \(offset), which this library cannot send (jansson does not support it; the official SDK would send it)"
    }
}
