// libFuzzer harness: the response-envelope builder fed arbitrary server bodies and headers.
// The input is "header lines \n\n body"; every envelope must be valid JSON that parses back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var split = bytes.count
    for index in 0..<max(0, bytes.count - 1) where bytes[index] == 0x0A && bytes[index + 1] == 0x0A {
        split = index
        break
    }
    var headers = JSONObject()
    for line in bytes[0..<split].split(separator: 0x0A) {
        let text = String(decoding: line, as: UTF8.self)
        // Header names come from ResponseHeadParser, which keeps HTTP tokens only (no NUL).
        guard let colon = text.firstIndex(of: ":"), !text[..<colon].utf8.contains(0) else { continue }
        headers[text[..<colon].lowercased()] = .string(String(text[text.index(after: colon)...]))
    }
    let body = Array(bytes[min(bytes.count, split + 2)...])
    let head = ResponseHead(status: 400 + Int(size % 200), reason: "Reason", headers: headers)
    let envelopes = [
        Envelope.failure(.apiError(head, body: body, roundTripTime: 0.5), attempts: 1, secrets: Secrets(["secret-key"])),
        Envelope.failure(.invalidResponse("bad", status: 200, body: String(decoding: body, as: UTF8.self)), attempts: 1),
    ]
    for envelope in envelopes {
        let encoded = JSONSerializer.bytes(of: envelope)
        guard let reparsed = try? JSONReader.parse(encoded), reparsed == envelope else { fatalError("envelope does not round-trip") }
    }
    // A body jansson accepts as an object is spliced in as it is: the envelope is one JSON object
    // whose "body" reads as the same value.
    if (try? JSONReader.check(body)) == "object" {
        let spliced = Envelope.success(head: head, body: body, roundTripTime: 0.1, attempts: 1, timings: PhaseTimings(),
                                       events: [body])
        guard case .object(let envelope)? = try? JSONReader.parse(spliced),
              envelope["body"] == (try? JSONReader.parse(body)) else { fatalError("spliced envelope does not read back") }
    }
    _ = RetryPolicy.requestedDelay(headers: headers, now: 0)
    return 0
}
