import HumanloopCore

/// A configured client: credentials, transfer settings and a pool of connections.
///
/// Thread-safe: any number of threads may call through one client.
public final class TransportClient: Sendable {
    /// The configuration the client was built with.
    public let configuration: ClientConfiguration
    let settings: TransportSettings
    let pool: LoopPool
    let retryPolicy: RetryPolicy
    /// The client's secrets (API key, provider keys), kept out of every text it writes.
    public let secrets: Secrets
    let engines: EngineSlot
    /// The one cap on open connections across all the client's loops (max_connections).
    let connections: ConnectionBudget
    /// The connection caps in effect: `max_connections`, lowered to what the process's open-file
    /// limit (RLIMIT_NOFILE, soft) leaves room for when the client was made.
    public let engineMaxConnections: Int
    public let blockingMaxConnections: Int
    /// The soft RLIMIT_NOFILE when the client was made (nil: none).
    public let openFileLimit: Int?
    /// Runs calls whose client could not be made (the default client without an API key), so
    /// that their failure arrives through the callback like every other result.
    static let orphanEngines = EngineSlot(maxConnections: 1, budget: ConnectionBudget(limit: 1))

    /// A client for `configuration`.
    public init(configuration: ClientConfiguration) {
        self.configuration = configuration
        settings = TransportSettings(configuration)
        secrets = configuration.secrets
        retryPolicy = RetryPolicy(maxRetries: configuration.maxRetries, baseDelay: configuration.retryBaseDelay,
                                  maxDelay: configuration.retryMaxDelay)
        let softLimit = DescriptorBudget.softLimit
        openFileLimit = softLimit
        engineMaxConnections = DescriptorBudget.engineConnections(configured: configuration.maxConnections, softLimit: softLimit)
        blockingMaxConnections = DescriptorBudget.blockingConnections(configured: configuration.maxConnections, softLimit: softLimit)
        connections = ConnectionBudget(limit: engineMaxConnections)
        engines = EngineSlot(maxConnections: engineMaxConnections, budget: connections)
        pool = LoopPool(limit: blockingMaxConnections, budget: connections)
        // The engine's descriptors are made now, while the program has them to spare (its
        // thread starts with the first asynchronous call).
        _ = engines.current
        if LogSink.shared.level(for: configuration.logLevel) >= .debug {
            LogSink.shared.emit(.debug, "client: max_connections=\(configuration.maxConnections) in effect: engine \(engineMaxConnections), blocking calls \(blockingMaxConnections) (RLIMIT_NOFILE soft limit \(softLimit.map(String.init) ?? "unlimited"))")
        }
    }

    /// What the client's settings in effect are, as JSON (hl_client_info).
    public var info: JSONValue {
        .object(JSONObject([
            ("max_connections", .int(configuration.maxConnections)),
            ("engine_max_connections", .int(engineMaxConnections)),
            ("blocking_max_connections", .int(blockingMaxConnections)),
            ("open_file_limit", openFileLimit.map(JSONValue.int) ?? .null),
        ]))
    }

    /// A loop for the host to run (hl_loop_new), or nil when its descriptors cannot be made.
    public func makeLoop() -> Loop? {
        let loop = Loop(maxConnections: engineMaxConnections, ownsThread: false, budget: connections)
        return loop.isUsable ? loop : nil
    }

    /// Stops the engine: calls in flight end as "cancelled" (their items delivered) before this
    /// returns. Must not run on the engine's thread.
    public func shutDown() {
        engines.stop()
    }

    /// An asynchronous call on `loop` (nil: the client's engine), to be started with
    /// `AsyncCall.start()`; its items go to `sink` on the thread that runs the loop. Every failure
    /// (validation included) arrives through `sink`.
    public func makeCall(_ endpoint: Endpoint?, callName: String, requestJSON: [UInt8]?, optionsJSON: [UInt8]?,
                          on loop: Loop? = nil, sink: @escaping ItemSink) -> AsyncCall {
        let engine = loop ?? engines.current
        let asyncCall: AsyncCall
        do throws(CallError) {
            guard let endpoint else { throw .invalidRequest([Endpoint.unknownCallIssue(callName)]) }
            let options = try CallOptions(json: optionsJSON)
            let prepared = try prepare(endpoint, requestJSON: requestJSON, forceStream: options.stream)
            asyncCall = AsyncCall(engine: engine, call: call(prepared, options: options),
                                  deliversEvents: options.stream, sink: sink)
        } catch {
            asyncCall = AsyncCall(engine: engine, failure: .failure(error, attempts: 0, secrets: secrets), sink: sink)
        }
        return asyncCall
    }

    /// A call that delivers `failure` (nothing to redact: there is no client) through `sink` on
    /// an engine thread once started: the one item of a call that has no client (the default
    /// client could not be made).
    public static func makeFailedCall(_ failure: CallError, sink: @escaping ItemSink) -> AsyncCall {
        AsyncCall(engine: orphanEngines.current, failure: .failure(failure, attempts: 0, secrets: Secrets()), sink: sink)
    }

    /// Runs a blocking call with options on the calling thread (hl_call_run).
    public func run(_ endpoint: Endpoint?, callName: String, requestJSON: [UInt8]?, optionsJSON: [UInt8]?) -> CallResult {
        guard let endpoint else { return .failure(.invalidRequest([Endpoint.unknownCallIssue(callName)]), attempts: 0, secrets: secrets) }
        do {
            return complete(endpoint, requestJSON: requestJSON, options: try CallOptions(json: optionsJSON))
        } catch {
            return .failure(error, attempts: 0, secrets: secrets)
        }
    }

    /// Validates `requestJSON`, sends it to `endpoint` and returns the call's result, on the
    /// calling thread. A request with `"stream": true` (or `options.stream`) is consumed as a
    /// stream and merged.
    public func complete(_ endpoint: Endpoint, requestJSON: [UInt8]?, options: CallOptions = CallOptions()) -> CallResult {
        do {
            let prepared = try prepare(endpoint, requestJSON: requestJSON, forceStream: options.stream)
            return InlineCall(client: self, call: call(prepared, options: options), deliversEvents: false)
                .runToEnd()
        } catch {
            return .failure(error, attempts: 0, secrets: secrets)
        }
    }

    /// Opens an event stream on `endpoint` (`"stream": true` is set on the request), driven by
    /// the caller's thread and cancellable from any thread.
    public func openStream(_ endpoint: Endpoint, requestJSON: [UInt8]?) -> InlineCall {
        do {
            let prepared = try prepare(endpoint, requestJSON: requestJSON, forceStream: true)
            return InlineCall(client: self, call: call(prepared, options: CallOptions()), deliversEvents: true)
        } catch {
            return InlineCall(client: self, failure: error)
        }
    }

    func prepare(_ endpoint: Endpoint, requestJSON: [UInt8]?, forceStream: Bool) throws(CallError) -> PreparedRequest {
        guard let requestJSON else {
            throw .invalidRequest([ValidationIssue(path: "", message: "the request is NULL; pass a JSON object")])
        }
        return try PreparedRequest(json: requestJSON, endpoint: endpoint, forceStream: forceStream,
                                   providerKeys: configuration.providerKeys)
    }

    /// The call of `request` with `options`, carrying its attempt policy.
    func call(_ request: PreparedRequest, options: CallOptions) -> Call {
        Call(policy: attemptPolicy(for: options, endpoint: request.endpoint), request: request)
    }

    /// The attempt policy of a call to `endpoint` with `options`: the client's transfer settings
    /// and retry policy with the call's own options, its URL, its log, the client's secrets.
    func attemptPolicy(for options: CallOptions, endpoint: Endpoint) -> AttemptPolicy {
        var callSettings = settings
        if options.timeout != nil || options.connectTimeout != nil || options.lowSpeedTimeout != nil || !options.headers.isEmpty {
            callSettings = settings.forCall(configuration, options: options)
        }
        var retry = retryPolicy
        if let maxRetries = options.maxRetries {
            retry = RetryPolicy(maxRetries: maxRetries, baseDelay: configuration.retryBaseDelay, maxDelay: configuration.retryMaxDelay)
        }
        return AttemptPolicy(settings: callSettings, retry: retry, url: configuration.host + endpoint.path,
                             log: AttemptLog(level: configuration.logLevel, userAgent: configuration.userAgent), secrets: secrets)
    }
}
