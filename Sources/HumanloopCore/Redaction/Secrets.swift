/// The secrets a text of the library must never show: the API key, provider keys (the
/// client's and the request's), and redaction of them.
///
/// Two ways, used together on every text the library writes itself (log lines, error messages,
/// error envelopes):
/// - **by path:** where a secret is known to sit (`provider_api_keys` of a request, the
///   configuration's `api_key` and `*_api_key` keys) the value is never written out at all: a
///   message names the path and the type, a logged request body shows `"[redacted]"` there
///   (`redactingRequestKeys`);
/// - **by value:** every occurrence of a known secret of `minimumLength` bytes or more is
///   replaced by `"[redacted]"` (a server that echoes a key back, a key repeated elsewhere in a
///   request). Shorter values are redacted by path only: replacing a 1-byte test key by value
///   would mangle unrelated text.
///
/// Success bodies handed to the caller are never redacted (they stay byte-exact).
public struct Secrets: Sendable {
    /// The shortest secret redacted by value (in UTF-8 bytes).
    public static let minimumLength = 8
    /// What a secret becomes.
    public static let mark = "[redacted]"
    private static let markBytes = Array(mark.utf8)

    /// The patterns redacted by value (each at least `minimumLength` bytes), longest first, so
    /// that a secret containing another is replaced whole.
    private let patterns: [[UInt8]]

    /// Secrets with these values (those shorter than `minimumLength` are redacted by path only).
    public init(_ values: [String] = []) {
        self.init(patterns: values.map { Array($0.utf8) })
    }

    private init(patterns candidates: [[UInt8]]) {
        var seen = Set<[UInt8]>()
        patterns = candidates.filter { $0.count >= Self.minimumLength && seen.insert($0).inserted }
            .sorted { $0.count > $1.count }
    }

    /// These secrets and `values` (a request's provider keys on top of the client's).
    public func adding(_ values: [String]) -> Secrets {
        values.isEmpty ? self : Secrets(patterns: patterns + values.map { Array($0.utf8) })
    }

    /// True when nothing is redacted by value.
    public var isEmpty: Bool { patterns.isEmpty }

    /// `text` with every secret replaced.
    public func redact(_ text: String) -> String {
        redacted(text) ?? text
    }

    /// `value` with every secret replaced in every string and object key. Linear in the size of
    /// `value`; parts without a secret are kept as they are (not rebuilt).
    public func redact(_ value: JSONValue) -> JSONValue {
        guard !patterns.isEmpty else { return value }
        return redacted(value) ?? value
    }

    /// A request body for a log line: every value under `provider_api_keys` (each member of the
    /// object, or the whole value when it is not an object) becomes `"[redacted]"`.
    public static func redactingRequestKeys(_ body: JSONValue) -> JSONValue {
        guard case .object(var object) = body, let keys = object["provider_api_keys"] else { return body }
        if case .object(let members) = keys {
            object["provider_api_keys"] = .object(JSONObject(members.members.map { ($0.key, .string(mark)) }))
        } else {
            object["provider_api_keys"] = .string(mark)
        }
        return .object(object)
    }

    /// `value` redacted, or nil when it holds no secret.
    private func redacted(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .string(let text):
            return redacted(text).map(JSONValue.string)
        case .array(let elements):
            var changed: [JSONValue]?
            for (index, element) in elements.enumerated() {
                guard let replacement = redacted(element) else { continue }
                if changed == nil { changed = elements }
                changed?[index] = replacement
            }
            return changed.map(JSONValue.array)
        case .object(let object):
            var changedAny = false
            let members = object.members.map { member -> (String, JSONValue) in
                let key = redacted(member.key)
                let value = redacted(member.value)
                if key != nil || value != nil { changedAny = true }
                return (key ?? member.key, value ?? member.value)
            }
            return changedAny ? .object(JSONObject(members)) : nil
        case .null, .bool, .number:
            return nil
        }
    }

    /// `text` with every occurrence of every pattern replaced, or nil when none occurs.
    private func redacted(_ text: String) -> String? {
        guard !patterns.isEmpty else { return nil }
        var bytes = Array(text.utf8)
        var changed = false
        for pattern in patterns where bytes.count >= pattern.count {
            guard let replaced = Self.replacingAll(pattern, in: bytes) else { continue }
            bytes = replaced
            changed = true
        }
        return changed ? String(decoding: bytes, as: UTF8.self) : nil
    }

    /// `bytes` with every occurrence of `pattern` replaced by the mark, or nil when none.
    private static func replacingAll(_ pattern: [UInt8], in bytes: [UInt8]) -> [UInt8]? {
        guard let first = pattern.first, bytes.count >= pattern.count else { return nil }
        var output: [UInt8] = []
        var copied = 0
        var index = 0
        let last = bytes.count - pattern.count
        while index <= last {
            guard bytes[index] == first, bytes[index..<(index + pattern.count)].elementsEqual(pattern) else {
                index += 1
                continue
            }
            output.append(contentsOf: bytes[copied..<index])
            output.append(contentsOf: markBytes)
            index += pattern.count
            copied = index
        }
        guard copied > 0 else { return nil }
        output.append(contentsOf: bytes[copied...])
        return output
    }
}
