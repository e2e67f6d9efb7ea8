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
    public static func failure(_ error: CallError, attempts: Int, secrets: Secrets = Secrets()) -> JSONValue {
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
        return .object(JSONObject([("ok", .bool(false)), ("error", secrets.redact(.object(details))),
                                   ("attempts", .int(attempts))]))
    }

    /// The body as JSON when it parses, else as text (invalid UTF-8 replaced).
    public static func parsedOrText(_ body: [UInt8]) -> JSONValue {
        if let value = try? JSONReader.parse(body) { return value }
        return .string(String(decoding: body, as: UTF8.self))
    }
}
