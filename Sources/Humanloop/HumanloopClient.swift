import Foundation

/// A client of the Humanloop v4 completions API: `async` calls and `AsyncThrowingStream`s on
/// the library's engine (the same core as the C library's `hl_call_start`: validation, wire
/// bytes, retries, timeouts, connection pool, fork rules and logging are the library's).
///
/// ```swift
/// let client = try HumanloopClient(apiKey: "...")
/// let response = try await client.complete(CompletionRequest(
///     project: "demo",
///     modelConfig: ModelConfigCompletionRequest(model: "gpt-3.5-turbo-instruct", promptTemplate: "{{q}}"),
///     inputs: ["q": "Hi"]))
/// print(response.data[0].output, response.status, response.attempts)
/// ```
///
/// The client is a value that shares one C client (`hl_client`) among its copies; it is
/// `Sendable`: any number of tasks may call through it at once. Cancelling a call's task (or
/// leaving a stream's `for try await` loop) cancels the transfer and closes its connection.
public struct HumanloopClient: Sendable {
    let handle: ClientHandle
    /// The options every call of this client starts from (see ``with(timeout:maxRetries:extraHeaders:)``).
    public let options: CallOptions

    /// A client with the API key `apiKey` and the base URL `host` (default: `HUMANLOOP_HOST`,
    /// else `https://api.humanloop.com/v4`).
    ///
    /// - Parameter configuration: further settings of `hl_client_new`'s configuration JSON, by
    ///   their wire names (`"max_connections"`, `"proxy"`, `"log_level"`, `"openai_api_key"`, ...).
    /// - Throws: ``HumanloopError/invalidConfig(message:path:errors:)`` listing every problem.
    public init(apiKey: String, host: String? = nil, configuration: [String: JSONValue] = [:]) throws {
        var settings = configuration
        settings["api_key"] = .string(apiKey)
        if let host { settings["host"] = .string(host) }
        try self.init(configuration: settings)
    }

    /// A client configured from the environment, as the C library's default client is
    /// (`HUMANLOOP_API_KEY`, `HUMANLOOP_HOST`, `HUMANLOOP_LOG`), with `configuration`'s settings
    /// (wire names of `hl_client_new`'s JSON) on top.
    ///
    /// - Throws: ``HumanloopError/invalidConfig(message:path:errors:)``, e.g. when no API key is set.
    public init(configuration: [String: JSONValue] = [:]) throws {
        var json: [UInt8]?
        if !configuration.isEmpty {
            do {
                json = try Self.json(configuration)
            } catch {
                throw HumanloopError.invalidConfig(message: error.message, path: error.path.isEmpty ? nil : error.path,
                                                   errors: [FieldProblem(path: error.path, message: error.message)])
            }
        }
        handle = try ClientHandle.make(configuration: json)
        options = CallOptions()
    }

    private init(handle: ClientHandle, options: CallOptions) {
        self.handle = handle
        self.options = options
    }

    /// A copy of this client (sharing its connections) whose calls use these options; what is
    /// `nil` keeps this client's value, `extraHeaders` are added to this client's.
    public func with(timeout: Duration? = nil, maxRetries: Int? = nil, extraHeaders: [String: String] = [:]) -> HumanloopClient {
        HumanloopClient(handle: handle, options: options.merged(
            with: CallOptions(timeout: timeout, maxRetries: maxRetries, extraHeaders: extraHeaders)))
    }

    // MARK: The four endpoints

    /// `POST /completion`: a completion with the model configuration given in the request.
    /// - Parameter options: this call's options over the client's.
    /// - Throws: ``HumanloopError``, or `CancellationError` when the task is cancelled.
    public func complete(_ request: CompletionRequest, options: CallOptions? = nil) async throws -> CompletionResponse {
        try await perform(.complete, request, options)
    }

    /// `POST /completion-deployed`: a completion with what the project has deployed.
    /// - Parameter options: this call's options over the client's.
    /// - Throws: ``HumanloopError``, or `CancellationError` when the task is cancelled.
    public func completeDeployed(_ request: CompletionDeployedRequest, options: CallOptions? = nil) async throws -> CompletionResponse {
        try await perform(.completeDeployed, request, options)
    }

    /// `POST /completion-experiment`: a completion with a model config drawn from an experiment.
    /// - Parameter options: this call's options over the client's.
    /// - Throws: ``HumanloopError``, or `CancellationError` when the task is cancelled.
    public func completeExperiment(_ request: CompletionExperimentRequest, options: CallOptions? = nil) async throws -> CompletionResponse {
        try await perform(.completeExperiment, request, options)
    }

    /// `POST /completion-model-config`: a completion with a stored model config.
    /// - Parameter options: this call's options over the client's.
    /// - Throws: ``HumanloopError``, or `CancellationError` when the task is cancelled.
    public func completeModelConfiguration(_ request: CompletionModelConfigRequest, options: CallOptions? = nil) async throws -> CompletionResponse {
        try await perform(.completeModelConfiguration, request, options)
    }

    // MARK: Streams

    /// `POST /completion` as an event stream (`"stream": true`): the events as they arrive.
    /// The stream throws a ``HumanloopError`` on failure; leaving the loop cancels the call.
    public func completeStream(_ request: CompletionRequest, options: CallOptions? = nil) -> AsyncThrowingStream<CompletionStreamEvent, any Error> {
        stream(.complete, request, options)
    }

    /// `POST /completion-deployed` as an event stream. See ``completeStream(_:options:)``.
    public func completeDeployedStream(_ request: CompletionDeployedRequest, options: CallOptions? = nil) -> AsyncThrowingStream<CompletionStreamEvent, any Error> {
        stream(.completeDeployed, request, options)
    }

    /// `POST /completion-experiment` as an event stream. See ``completeStream(_:options:)``.
    public func completeExperimentStream(_ request: CompletionExperimentRequest, options: CallOptions? = nil) -> AsyncThrowingStream<CompletionStreamEvent, any Error> {
        stream(.completeExperiment, request, options)
    }

    /// `POST /completion-model-config` as an event stream. See ``completeStream(_:options:)``.
    public func completeModelConfigurationStream(_ request: CompletionModelConfigRequest, options: CallOptions? = nil) -> AsyncThrowingStream<CompletionStreamEvent, any Error> {
        stream(.completeModelConfiguration, request, options)
    }

    // MARK: The bridge to the C ABI

    /// The request body as the C ABI receives it (the library checks it and writes the wire bytes):
    /// written by `JSONBytesEncoder`, or by `JSONEncoder` for what that fast path leaves to it.
    /// A value JSON cannot hold (NaN, ±infinity) is an ``HumanloopError/invalidRequest(message:path:errors:)``
    /// that names it, as the library names the values it refuses.
    static func requestJSON<Request: Encodable>(_ request: Request) throws(HumanloopError) -> [UInt8] {
        do {
            return try json(request)
        } catch {
            throw .invalidRequest(message: error.message, path: error.path.isEmpty ? nil : error.path,
                                  errors: [FieldProblem(path: error.path, message: error.message)])
        }
    }

    /// A value that cannot be written as JSON: where (a wire path such as `inputs.x[1]`) and why.
    struct EncodingProblem: Error {
        var path: String
        var message: String
    }

    /// `value` as JSON text: `JSONBytesEncoder`, or `JSONEncoder` for what that fast path leaves.
    static func json<T: Encodable>(_ value: T) throws(EncodingProblem) -> [UInt8] {
        if let bytes = JSONBytesEncoder.encode(value) { return bytes }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw problem(error)
        }
    }

    /// `JSONEncoder`'s error as an `EncodingProblem`.
    private static func problem(_ error: any Error) -> EncodingProblem {
        guard case .invalidValue(let value, let context)? = error as? EncodingError else {
            return EncodingProblem(path: "", message: "the value cannot be written as JSON: \(error)")
        }
        var path = ""
        for key in context.codingPath {
            if let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += path.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        let problem: String
        switch value {
        case let number as Double: problem = "\(number) is not a JSON number"
        case let number as Float: problem = "\(number) is not a JSON number"
        default: problem = context.debugDescription
        }
        return EncodingProblem(path: path, message: path.isEmpty ? problem : "\(path): \(problem)")
    }

    private func perform<Request: Encodable>(_ name: CallName, _ request: Request, _ callOptions: CallOptions?) async throws -> CompletionResponse {
        try Task.checkCancellation()
        let body = try Self.requestJSON(request)
        let optionsJSON = options.merged(with: callOptions).json(stream: false)
        let call = PendingCall(client: handle)
        let bytes = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                call.start(continuation, name: name, request: body, options: optionsJSON)
            }
        } onCancel: {
            call.cancel()
        }
        switch Envelope<CompletionResponse>.decode(bytes) {
        case .success(let envelope):
            let attempts = envelope.attempts ?? 0
            guard envelope.ok, var response = envelope.body else {
                let error = envelope.error?.error(attempts: attempts)
                    ?? .invalidResponse(status: envelope.status, body: nil, message: "the answer has no body", attempts: attempts)
                if case .cancelled = error, call.wasCancelled || Task.isCancelled { throw CancellationError() }
                throw error
            }
            response.status = envelope.status ?? 200
            response.headers = envelope.headers ?? [:]
            response.attempts = attempts
            response.roundTripTime = envelope.roundTripTime ?? 0
            return response
        case .failure(let error):
            throw error
        }
    }

    private func stream<Request: Encodable>(_ name: CallName, _ request: Request, _ callOptions: CallOptions?) -> AsyncThrowingStream<CompletionStreamEvent, any Error> {
        let (events, continuation) = AsyncThrowingStream<CompletionStreamEvent, any Error>.makeStream()
        let body: [UInt8]
        do {
            body = try Self.requestJSON(request)
        } catch {
            continuation.finish(throwing: error)
            return events
        }
        let call = PendingCall(client: handle, events: continuation)
        continuation.onTermination = { termination in
            if case .cancelled = termination { call.cancel() }
        }
        call.start(name: name, request: body, options: options.merged(with: callOptions).json(stream: true))
        return events
    }
}
