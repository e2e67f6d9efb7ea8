// libFuzzer harness: the response head (status line and header block, as libcurl hands it over
// line by line) and the retry delay computed from it. Nothing may trap; a complete head gives a
// status of three digits and a delay that is finite and never negative.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponseHead(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var parser = ResponseHeadParser()
    var start = 0
    var failed = false
    for index in 0..<size where bytes[index] == 0x0A || index == size - 1 {
        do throws(CallError) {
            try parser.receive(line: UnsafeRawBufferPointer(rebasing: bytes[start...index]))
        } catch {
            failed = true
            break
        }
        start = index + 1
    }
    if failed || !parser.isComplete { return 0 }
    guard (100...999).contains(parser.status) else { fatalError("status \(parser.status) out of range") }
    let headers = parser.headers
    let policy = RetryPolicy(maxRetries: 3, baseDelay: 0.5, maxDelay: 8)
    for now in [0.0, 1.7e9, 2.6e11] {
        let delay = policy.delay(retry: size % 40, headers: headers, now: now, random: 0.5)
        guard delay.isFinite, delay >= 0, delay <= 60 else { fatalError("delay \(delay)") }
        if let requested = RetryPolicy.requestedDelay(headers: headers, now: now) {
            guard requested.isFinite, requested >= 0 else { fatalError("requested delay \(requested)") }
        }
    }
    for member in headers {
        if case .string(let value) = member.value, let time = HTTPDate.unixTime(value) {
            guard time.isFinite, time >= 0, time <= 253_402_300_800 else { fatalError("date \(time)") }
        }
    }
    let head = ResponseHead(status: parser.status, reason: parser.reason, headers: headers)
    let envelope = Envelope.failure(.apiError(head, body: [], roundTripTime: 0, url: "http://h/v4/completion"), attempts: 1)
    guard (try? JSONReader.parse(JSONSerializer.bytes(of: envelope))) != nil else { fatalError("envelope is not JSON") }
    return 0
}
