/// Timing of one HTTP exchange, seconds from its start.
public struct PhaseTimings: Sendable {
    public var nameLookup: Double = 0
    public var connect: Double = 0
    public var tlsHandshake: Double = 0
    public var preTransfer: Double = 0
    public var startTransfer: Double = 0
    public var total: Double = 0

    public init() {}

    var json: JSONValue {
        .object(JSONObject([
            ("namelookup", .double(nameLookup)), ("connect", .double(connect)),
            ("tls", .double(tlsHandshake)), ("pretransfer", .double(preTransfer)),
            ("starttransfer", .double(startTransfer)), ("total", .double(total)),
        ]))
    }
}

/// Builds the JSON envelopes the library returns.
public enum Envelope {
    /// `{"ok":true,"status":...,"headers":...,"body":...,"round_trip_time":...,"attempts":N,"timings":{...}}`
    /// plus `"events"` for a consumed stream.
    public static func success(head: ResponseHead, body: JSONValue, roundTripTime: Double, attempts: Int,
                               timings: PhaseTimings?, events: [JSONValue]? = nil) -> JSONValue {
        var object = JSONObject([
            ("ok", .bool(true)), ("status", .int(head.status)), ("headers", .object(head.headers)),
            ("body", body), ("round_trip_time", .double(roundTripTime)), ("attempts", .int(attempts)),
        ])
        if let timings { object["timings"] = timings.json }
        if let events { object["events"] = .array(events) }
        return .object(object)
    }

    /// The terminal item of a stream that ended cleanly.
    public static func streamDone(head: ResponseHead, roundTripTime: Double, attempts: Int, eventCount: Int) -> JSONValue {
        .object(JSONObject([
            ("ok", .bool(true)), ("done", .bool(true)), ("status", .int(head.status)),
            ("headers", .object(head.headers)), ("round_trip_time", .double(roundTripTime)),
            ("attempts", .int(attempts)), ("events", .int(eventCount)),
        ]))
    }

    /// `{"ok":true,"event":<raw event JSON>}` built around the event's bytes, untouched.
    public static func streamEvent(rawJSON: [UInt8]) -> [UInt8] {
        var output: [UInt8] = Array(#"{"ok":true,"event":"#.utf8)
        output.reserveCapacity(output.count + rawJSON.count + 1)
        output.append(contentsOf: rawJSON)
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// `{"ok":false,"error":{...},"attempts":N}`. Every secret anywhere in the error (message,
    /// the server's body and headers: a hostile server may echo the key) becomes "[redacted]".
    public static func failure(_ error: HumanloopError, attempts: Int, secrets: [String] = []) -> JSONValue {
        var details = JSONObject([
            ("type", .string(error.typeName)),
            ("message", .string(error.message)),
        ])
        switch error {
        case .invalidRequest(let issues), .invalidConfig(let issues):
            details["path"] = .string(issues.first?.path ?? "")
            details["errors"] = .array(issues.map { issue in
                .object(JSONObject([("path", .string(issue.path)), ("message", .string(issue.message))]))
            })
        case .apiError(let head, let body, let roundTripTime, _):
            details["status"] = .int(head.status)
            details["reason"] = .string(head.reason)
            details["body"] = parsedOrText(body)
            details["headers"] = .object(head.headers)
            details["round_trip_time"] = .double(roundTripTime)
        case .invalidResponse(_, let status, let body):
            details["status"] = .int(status)
            details["body"] = .string(body)
        case .connectionError, .timeout:
            break
        }
        return .object(JSONObject([("ok", .bool(false)), ("error", redact(.object(details), secrets: secrets)),
                                   ("attempts", .int(attempts))]))
    }

    /// `value` with every secret replaced in every string and object key.
    public static func redact(_ value: JSONValue, secrets: [String]) -> JSONValue {
        let secrets = secrets.filter { $0.utf8.count >= 4 }
        guard !secrets.isEmpty else { return value }
        switch value {
        case .string(let text):
            return .string(redact(text, secrets: secrets))
        case .array(let elements):
            return .array(elements.map { redact($0, secrets: secrets) })
        case .object(let object):
            return .object(JSONObject(object.members.map { (redact($0.key, secrets: secrets), redact($0.value, secrets: secrets)) }))
        case .null, .bool, .number:
            return value
        }
    }

    /// The body as JSON when it parses, else as text (invalid UTF-8 replaced).
    public static func parsedOrText(_ body: [UInt8]) -> JSONValue {
        if let value = try? JSONParser.parse(body) { return value }
        return .string(String(decoding: body, as: UTF8.self))
    }

    /// `text` with every occurrence of every secret (of 4 or more characters) replaced.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where secret.utf8.count >= 4 && result.contains(secret) {
            result = result.replacingAll(secret, with: "[redacted]")
        }
        return result
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        let source = Array(utf8), pattern = Array(target.utf8)
        guard !pattern.isEmpty, source.count >= pattern.count else { return self }
        var output: [UInt8] = []
        var index = 0
        while index < source.count {
            if index + pattern.count <= source.count, source[index..<(index + pattern.count)].elementsEqual(pattern) {
                output.append(contentsOf: replacement.utf8)
                index += pattern.count
            } else {
                output.append(source[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
