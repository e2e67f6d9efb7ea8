import HumanloopCore

/// A configured client: credentials, transfer settings and a pool of connections.
///
/// Thread-safe: any number of threads may call through one client.
public final class HumanloopClient: Sendable {
    /// The configuration the client was built with.
    public let configuration: ClientConfiguration
    let settings: TransportSettings
    let pool = HandlePool()
    let retryPolicy: RetryPolicy

    /// A client for `configuration`.
    public init(configuration: ClientConfiguration) {
        self.configuration = configuration
        settings = TransportSettings(configuration)
        retryPolicy = RetryPolicy(maxRetries: configuration.maxRetries, baseDelay: configuration.retryBaseDelay,
                                  maxDelay: configuration.retryMaxDelay)
    }

    /// The full URL of `endpoint`.
    func url(of endpoint: Endpoint) -> String { configuration.host + endpoint.path }

    /// Validates `requestJSON`, sends it to `endpoint` and returns the envelope (JSON bytes).
    /// A request with `"stream": true` is consumed as a stream and merged.
    public func complete(_ endpoint: Endpoint, requestJSON: [UInt8]?) -> [UInt8] {
        let prepared: PreparedRequest
        do {
            prepared = try prepare(endpoint, requestJSON: requestJSON, forceStream: false)
        } catch {
            return encode(failureEnvelope(error, attempts: 0))
        }
        if prepared.isStream { return consumeStream(prepared) }
        return send(prepared)
    }

    /// Opens an event stream on `endpoint` (`"stream": true` is set on the request).
    public func openStream(_ endpoint: Endpoint, requestJSON: [UInt8]?) -> EventStream {
        do {
            return EventStream(client: self, request: try prepare(endpoint, requestJSON: requestJSON, forceStream: true))
        } catch {
            return EventStream(client: self, failure: error)
        }
    }

    func prepare(_ endpoint: Endpoint, requestJSON: [UInt8]?, forceStream: Bool) throws(HumanloopError) -> PreparedRequest {
        guard let requestJSON else {
            throw .invalidRequest([ValidationIssue(path: "", message: "the request is NULL; pass a JSON object")])
        }
        return try PreparedRequest(json: requestJSON, endpoint: endpoint, forceStream: forceStream,
                                   providerKeys: configuration.providerKeys)
    }

    func encode(_ envelope: JSONValue) -> [UInt8] { JSONSerializer.bytes(of: envelope) }

    func failureEnvelope(_ error: HumanloopError, attempts: Int) -> JSONValue {
        Envelope.failure(error, attempts: attempts, secrets: configuration.secrets)
    }

    /// Sends a non-streaming request with retries and same-origin 307/308 redirects; returns the
    /// envelope.
    private func send(_ request: PreparedRequest) -> [UInt8] {
        var attempts = 0
        var redirects = 0
        var url = url(of: request.endpoint)
        while true {
            attempts += 1
            guard let transfer = Transfer(pool: pool, settings: settings, url: url, body: request.body, mode: .buffer) else {
                return encode(failureEnvelope(.connectionError("libcurl could not create a transfer"), attempts: attempts))
            }
            let outcome = transfer.run()
            let roundTripTime = transfer.elapsed
            let timings = transfer.timings
            let decision = decide(after: outcome, of: transfer, request: request, attempt: attempts, redirects: redirects,
                                  url: url, beforeFirstEvent: true)
            transfer.release(to: pool)
            switch decision {
            case .redirect(let target):
                redirects += 1
                attempts -= 1
                url = target
                continue
            case .retry(let delay):
                Clock.sleep(seconds: delay)
                continue
            case .finish:
                break
            }
            switch outcome {
            case .response(let head, let body) where (200...299).contains(head.status):
                return successEnvelope(head: head, body: body, roundTripTime: roundTripTime, attempts: attempts, timings: timings)
            case .response(let head, let body):
                return encode(failureEnvelope(.apiError(head, body: body, roundTripTime: roundTripTime, url: url), attempts: attempts))
            case .failure(let error, _):
                return encode(failureEnvelope(error, attempts: attempts))
            }
        }
    }

    func redirectTarget(_ head: ResponseHead, from url: String) -> String? {
        guard head.status == 307 || head.status == 308, case .string(let location) = head.headers["location"] else { return nil }
        return Redirect.sameOriginTarget(location: location, from: url)
    }

    /// The envelope of a 2xx answer: its body spliced in byte-exact once jansson has checked it
    /// is one JSON object.
    private func successEnvelope(head: ResponseHead, body: [UInt8], roundTripTime: Double, attempts: Int,
                                 timings: PhaseTimings) -> [UInt8] {
        let text = { String(decoding: body, as: UTF8.self) }
        let status = head.status
        if body.isEmpty {
            return encode(failureEnvelope(.invalidResponse("the server answered \(status) with an empty body", status: status, body: ""),
                                          attempts: attempts))
        }
        let type: String
        do {
            type = try JSONReader.check(body)
        } catch {
            return encode(failureEnvelope(.invalidResponse("the server answered \(status) with a body that is not JSON: \(error)",
                                                           status: status, body: text()), attempts: attempts))
        }
        guard type == "object" else {
            let what = "a JSON \(type)"
            return encode(failureEnvelope(.invalidResponse("the server answered \(status) with \(what), not a JSON object",
                                                           status: status, body: text()), attempts: attempts))
        }
        return Envelope.success(head: head, body: body, roundTripTime: roundTripTime, attempts: attempts, timings: timings)
    }

    /// Runs a stream to its end and merges its events into one success envelope.
    ///
    /// Everything kept (the events and the merged texts) is bounded by `max_response_bytes`:
    /// past it, the stream is closed at once and the call fails with `invalid_response`.
    private func consumeStream(_ request: PreparedRequest) -> [UInt8] {
        let stream = EventStream(client: self, request: request)
        var merger = StreamMerger()
        var events: [[UInt8]] = []
        var eventBytes = 0
        let limit = settings.maxResponseBytes
        while let output = stream.nextOutput() {
            switch output {
            case .event(let raw):
                // Checked as a JSON object by the decoder; read again here for the merge.
                if let value = try? JSONReader.parse(raw) { merger.add(value) }
                events.append(raw)
                eventBytes += raw.count
                if eventBytes + merger.mergedTextBytes > limit {
                    stream.close()
                    let message = "the stream's events and merged text exceed max_response_bytes (\(limit) bytes) after \(events.count) event\(events.count == 1 ? "" : "s"); the rest was not read"
                    return encode(failureEnvelope(.invalidResponse(message, status: 200, body: ""), attempts: stream.attempts))
                }
            case .done(let head, let roundTripTime, let timings):
                return Envelope.success(head: head, body: JSONSerializer.bytes(of: merger.body), roundTripTime: roundTripTime,
                                        attempts: stream.attempts, timings: timings, events: events)
            case .failure(let error):
                return encode(failureEnvelope(error, attempts: stream.attempts))
            }
        }
        return encode(failureEnvelope(.connectionError("the stream ended without a result"), attempts: stream.attempts))
    }
}
