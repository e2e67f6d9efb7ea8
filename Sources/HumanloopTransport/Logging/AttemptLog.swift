import HumanloopCore

/// The log of a call's attempts: one info line per attempt (call, method, URL, status or error,
/// attempt, duration, bytes, what happens next); at debug also the request and the answer.
/// The secrets given are redacted from every line; the request body's provider keys by path.
struct AttemptLog {
    /// The client's log level (`LogSink` applies the process's callback level to it).
    let level: LogLevel
    /// The User-Agent the requests carry.
    let userAgent: String

    func record(_ outcome: TransferOutcome, of transfer: Transfer, request: PreparedRequest, attempt: Int, url: String,
                decision: AttemptDecision, secrets: () -> Secrets) {
        let level = LogSink.shared.level(for: self.level)
        guard level >= .info else { return }
        let secrets = secrets()
        var line = "\(request.endpoint.callName) POST \(url) attempt=\(attempt)"
        switch outcome {
        case .response(let head, _): line += " status=\(head.status)"
        case .failure(let error, _): line += " error=\(error.typeName) \"\(error.message)\""
        }
        line += " duration=\(JSONNumber(seconds: transfer.elapsed).text)s bytes=\(transfer.collector.bodyBytesReceived)"
        switch decision {
        case .finish: break
        case .redirect(let target): line += " -> redirect to \(target)"
        case .retry(let delay): line += " -> retry in \(JSONNumber(seconds: delay).text)s"
        }
        LogSink.shared.emit(.info, secrets.redact(line))
        guard level >= .debug else { return }
        let requestHeaders = JSONObject([("X-API-KEY", .string("[redacted]")), ("Content-Type", .string("application/json")),
                                         ("Accept", .string("application/json")), ("User-Agent", .string(userAgent))])
        LogSink.shared.emit(.debug, "request headers: \(JSONSerializer.string(of: .object(requestHeaders)))")
        // The body the library wrote itself: its provider keys are known by path.
        let requestBody = (try? JSONReader.parse(request.body)).map { JSONSerializer.bytes(of: Secrets.redactingRequestKeys($0)) }
        LogSink.shared.emit(.debug, "request body: \(Self.shown(requestBody ?? request.body, secrets: secrets))")
        if case .response(let head, let body) = outcome {
            let headers = secrets.redact(.object(head.headers))
            LogSink.shared.emit(.debug, secrets.redact("response: \(head.status) \(head.reason) headers: \(JSONSerializer.string(of: headers))"))
            if !body.isEmpty { LogSink.shared.emit(.debug, "response body: \(Self.shown(body, secrets: secrets))") }
        }
    }

    /// A body for the log: redacted (whole, so that no secret is cut in two and half shown), then
    /// cut to 64 KiB.
    private static func shown(_ bytes: [UInt8], secrets: Secrets) -> String {
        let limit = 64 * 1024
        let text = Array(secrets.redact(String(decoding: bytes, as: UTF8.self)).utf8)
        let shown = String(decoding: text.prefix(limit), as: UTF8.self)
        return text.count > limit ? shown + " [\(text.count - limit) more bytes]" : shown
    }
}
