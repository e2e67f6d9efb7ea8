/// Builds the JSON envelopes the library returns.
public enum Envelope {
    /// `{"ok":true,"status":...,"headers":...,"body":...,"round_trip_time":...,"attempts":N,"timings":{...}}`
    /// plus `"events"` for a consumed stream.
    ///
    /// `body` and each of `events` are JSON texts spliced in as they are (a server's exact bytes,
    /// already checked by `JSONReader`): every number, key order and escape reaches the caller
    /// as the server wrote it, and nothing is parsed or written again.
    public static func success(head: ResponseHead, body: [UInt8], roundTripTime: Double, attempts: Int,
                               timings: PhaseTimings?, events: [[UInt8]]? = nil) -> [UInt8] {
        var output: [UInt8] = []
        let headerBytes = head.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value.stringValue?.utf8.count ?? 16) + 8 }
        output.reserveCapacity(body.count + headerBytes + (events?.reduce(0) { $0 + $1.count + 1 } ?? 0) + 512)
        output.append(contentsOf: #"{"ok":true,"status":"#.utf8)
        JSONSerializer.writeInteger(head.status, to: &output)
        output.append(contentsOf: #","headers":"#.utf8)
        JSONSerializer.write(.object(head.headers), to: &output)
        output.append(contentsOf: #","body":"#.utf8)
        output.append(contentsOf: body)
        output.append(contentsOf: #","round_trip_time":"#.utf8)
        JSONSerializer.writeSeconds(roundTripTime, to: &output)
        output.append(contentsOf: #","attempts":"#.utf8)
        JSONSerializer.writeInteger(attempts, to: &output)
        if let timings {
            output.append(contentsOf: #","timings":"#.utf8)
            timings.write(to: &output)
        }
        if let events {
            output.append(contentsOf: #","events":["#.utf8)
            for (index, event) in events.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                output.append(contentsOf: event)
            }
            output.append(UInt8(ascii: "]"))
        }
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// The terminal item of a stream that ended cleanly.
    public static func streamDone(head: ResponseHead, roundTripTime: Double, attempts: Int, eventCount: Int) -> JSONValue {
        .object(JSONObject([
            ("ok", .bool(true)), ("done", .bool(true)), ("status", .int(head.status)),
            ("headers", .object(head.headers)), ("round_trip_time", .seconds(roundTripTime)),
            ("attempts", .int(attempts)), ("events", .int(eventCount)),
        ]))
    }

    /// `{"ok":true,"event":<raw event JSON>}` built around the event's bytes, untouched; the
    /// first event of a stream also carries the answer's `"status"` and `"headers"` (`head`).
    public static func streamEvent(rawJSON: [UInt8], head: ResponseHead? = nil) -> [UInt8] {
        var output: [UInt8] = Array(#"{"ok":true,"event":"#.utf8)
        output.reserveCapacity(output.count + rawJSON.count + 1)
        output.append(contentsOf: rawJSON)
        if let head {
            output.append(contentsOf: #","status":"#.utf8)
            JSONSerializer.writeInteger(head.status, to: &output)
            output.append(contentsOf: #","headers":"#.utf8)
            JSONSerializer.write(.object(head.headers), to: &output)
        }
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
            details["round_trip_time"] = .seconds(roundTripTime)
        case .invalidResponse(_, let status, let body):
            details["status"] = .int(status)
            details["body"] = .string(body)
        case .connectionError, .timeout, .cancelled:
            break
        }
        return .object(JSONObject([("ok", .bool(false)), ("error", redact(.object(details), secrets: secrets)),
                                   ("attempts", .int(attempts))]))
    }

    /// `value` with every secret replaced in every string and object key. Linear in the size of
    /// `value`; parts without a secret are kept as they are (not rebuilt).
    public static func redact(_ value: JSONValue, secrets: [String]) -> JSONValue {
        let patterns = secrets.filter { $0.utf8.count >= 4 }.map { Array($0.utf8) }
        guard !patterns.isEmpty else { return value }
        return redacted(value, patterns) ?? value
    }

    /// `value` redacted, or nil when it holds no secret.
    private static func redacted(_ value: JSONValue, _ patterns: [[UInt8]]) -> JSONValue? {
        switch value {
        case .string(let text):
            return redacted(text, patterns).map(JSONValue.string)
        case .array(let elements):
            var changed: [JSONValue]?
            for (index, element) in elements.enumerated() {
                guard let replacement = redacted(element, patterns) else { continue }
                if changed == nil { changed = elements }
                changed?[index] = replacement
            }
            return changed.map(JSONValue.array)
        case .object(let object):
            var changedAny = false
            let members = object.members.map { member -> (String, JSONValue) in
                let key = redacted(member.key, patterns)
                let value = redacted(member.value, patterns)
                if key != nil || value != nil { changedAny = true }
                return (key ?? member.key, value ?? member.value)
            }
            return changedAny ? .object(JSONObject(members)) : nil
        case .null, .bool, .number:
            return nil
        }
    }

    /// `text` with every occurrence of every pattern replaced, or nil when none occurs.
    private static func redacted(_ text: String, _ patterns: [[UInt8]]) -> String? {
        var bytes = Array(text.utf8)
        var changed = false
        for pattern in patterns where bytes.count >= pattern.count {
            guard let replaced = replacingAll(pattern, in: bytes) else { continue }
            bytes = replaced
            changed = true
        }
        return changed ? String(decoding: bytes, as: UTF8.self) : nil
    }

    /// `bytes` with every occurrence of `pattern` replaced by "[redacted]", or nil when none.
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
            output.append(contentsOf: redactedMark)
            index += pattern.count
            copied = index
        }
        guard copied > 0 else { return nil }
        output.append(contentsOf: bytes[copied...])
        return output
    }

    private static let redactedMark = Array("[redacted]".utf8)

    /// The body as JSON when it parses, else as text (invalid UTF-8 replaced).
    public static func parsedOrText(_ body: [UInt8]) -> JSONValue {
        if let value = try? JSONReader.parse(body) { return value }
        return .string(String(decoding: body, as: UTF8.self))
    }

    /// `text` with every occurrence of every secret (of 4 or more characters) replaced.
    public static func redact(_ text: String, secrets: [String]) -> String {
        let patterns = secrets.filter { $0.utf8.count >= 4 }.map { Array($0.utf8) }
        return redacted(text, patterns) ?? text
    }
}
