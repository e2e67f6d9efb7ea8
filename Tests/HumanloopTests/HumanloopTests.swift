import CABI
import Foundation
import Testing
@testable import Humanloop

/// A client of `server`, without proxies (the environment's must not see 127.0.0.1) and retries.
private func client(_ server: TestServer, _ settings: [String: JSONValue] = [:]) throws -> HumanloopClient {
    var configuration: [String: JSONValue] = ["proxy": "", "max_retries": 0, "retry_base_delay": 0]
    configuration.merge(settings) { _, new in new }
    return try HumanloopClient(apiKey: "test-key-0123456789", host: server.baseURL, configuration: configuration)
}

private let modelConfig = ModelConfigCompletionRequest(model: "gpt-3.5-turbo-instruct", promptTemplate: "{{q}}", temperature: 0.7)

private func request(metadata: [String: JSONValue]? = nil) -> CompletionRequest {
    CompletionRequest(project: "demo", modelConfig: modelConfig, inputs: ["q": "Hi"], metadata: metadata)
}

/// The request header `name` of a recorded request.
private func header(_ name: String, of request: [String: Any]) -> String? {
    let headers = request["headers"] as? [[String]] ?? []
    return headers.first { $0.first?.lowercased() == name.lowercased() }?.last
}

/// The Swift API's tests, one at a time: the cancellation bounds (100 ms) are measured, and the
/// 1,000 concurrent calls would otherwise compete with them for the (few) cores.
@Suite(.serialized) struct SwiftAPITests {}

extension SwiftAPITests {
@Suite struct EndpointTests {
    /// Each of the four calls posts its body to its path and decodes the answer, with the
    /// envelope's status and attempts.
    @Test func everyEndpoint() async throws {
        let server = try TestServer()
        let client = try client(server)
        let first = try await client.complete(request())
        #expect(first.data[0].output == "Hello from the test server")
        #expect(first.data[0].inputs == ["q": "Hi"])
        #expect(first.status == 200)
        #expect(first.attempts == 1)
        #expect(first.projectId == "pr_test")
        #expect(first.usage?.generationTokens == 6)
        #expect(first.headers["content-type"] == "application/json")
        let deployed = try await client.completeDeployed(CompletionDeployedRequest(project: "demo", environment: "production"))
        #expect(deployed.data.count == 1)
        let experiment = try await client.completeExperiment(CompletionExperimentRequest(experimentId: "ex_1", numSamples: 2))
        #expect(experiment.data.map(\.index) == [0, 1])
        let stored = try await client.completeModelConfiguration(CompletionModelConfigRequest(modelConfigId: "config_1"))
        #expect(stored.data[0].modelConfigId == "config_test")
        let requests = try server.requests()
        #expect(requests.map { $0["path"] as? String } ==
                ["/v4/completion", "/v4/completion-deployed", "/v4/completion-experiment", "/v4/completion-model-config"])
        #expect(requests.allSatisfy { header("X-API-KEY", of: $0) == "test-key-0123456789" })
        let bodies = try server.bodies()
        #expect(bodies[0]["model_config"] as? NSDictionary ==
                ["model": "gpt-3.5-turbo-instruct", "prompt_template": "{{q}}", "temperature": 0.7])
        #expect(bodies[1]["environment"] as? String == "production")
        #expect(bodies[2]["experiment_id"] as? String == "ex_1")
        #expect(bodies[3]["model_config_id"] as? String == "config_1")
    }

    /// Each streaming call sends "stream": true and yields the events as they arrive.
    @Test func streams() async throws {
        let server = try TestServer()
        let client = try client(server)
        let streams = [
            client.completeStream(request()),
            client.completeDeployedStream(CompletionDeployedRequest(project: "demo")),
            client.completeExperimentStream(CompletionExperimentRequest(experimentId: "ex_1")),
            client.completeModelConfigurationStream(CompletionModelConfigRequest(modelConfigId: "config_1")),
        ]
        for stream in streams {
            var text = ""
            var reasons: [String?] = []
            for try await event in stream {
                text += event.data[0].output
                reasons.append(event.data[0].finishReason)
            }
            #expect(text == "Llamas are friendly and curious; here is the data: they like people.")
            #expect(reasons == [nil, nil, nil, "stop"])
        }
        #expect(try server.bodies().allSatisfy { $0["stream"] as? Bool == true })
    }

    /// Per-call options and with(...): headers sent, retries counted in attempts, timeouts.
    @Test func options() async throws {
        let server = try TestServer()
        let base = try client(server)
        try server.script(#"[{"status":503,"json":{"detail":"busy"}},{"status":503,"json":{"detail":"busy"}}]"#)
        let response = try await base.with(maxRetries: 2, extraHeaders: ["X-Trace": "t1"])
            .complete(request(), options: CallOptions(extraHeaders: ["X-Other": "o"]))
        #expect(response.attempts == 3)
        let last = try #require(try server.requests().last)
        #expect(header("X-Trace", of: last) == "t1")
        #expect(header("X-Other", of: last) == "o")
    }
}

}

extension SwiftAPITests {
@Suite struct ErrorTests {
    /// A 422 is an api_error with its status, parsed body and headers.
    @Test func apiErrorCarriesStatusBodyAndHeaders() async throws {
        let server = try TestServer()
        try server.script(#"[{"status":422,"headers":{"X-Request-Id":"r1"},"json":{"detail":[{"loc":["body","model_config","model"],"msg":"field required","type":"value_error.missing"}]}}]"#)
        do {
            _ = try await client(server).complete(request())
            Issue.record("no error")
        } catch let HumanloopError.apiError(status, _, body, headers, _, attempts) {
            #expect(status == 422)
            #expect(body?["detail"] == [["loc": ["body", "model_config", "model"], "msg": "field required", "type": "value_error.missing"]])
            #expect(headers["x-request-id"] == "r1")
            #expect(attempts == 1)
        }
    }

    /// A 500 (retries off) is an api_error too, its non-JSON body as a string.
    @Test func serverErrorIsAnApiError() async throws {
        let server = try TestServer()
        try server.script(#"[{"status":500,"body":"boom"}]"#)
        do {
            _ = try await client(server).complete(request())
            Issue.record("no error")
        } catch let HumanloopError.apiError(status, _, body, _, _, attempts) {
            #expect(status == 500)
            #expect(body == "boom")
            #expect(attempts == 1)
        }
    }

    /// The library's validation: nothing is sent.
    @Test func invalidRequest() async throws {
        let server = try TestServer()
        let client = try client(server)
        do {
            _ = try await client.complete(request(), options: CallOptions(extraHeaders: ["Content-Type": "text/plain"]))
            Issue.record("no error")
        } catch let HumanloopError.invalidRequest(_, path, errors) {
            #expect(path == "options.headers" || errors.contains { $0.path.hasPrefix("options.headers") })
        }
        var bad = request()
        bad.modelConfig.provider = "not-a-provider"
        do {
            _ = try await client.complete(bad)
            Issue.record("no error")
        } catch let HumanloopError.invalidRequest(_, path, _) {
            #expect(path == "model_config.provider")
        }
        #expect(try server.requests().isEmpty)
    }

    /// Numbers JSON has no text for (NaN, ±infinity): an invalid request that names the field,
    /// from every call and stream, and nothing is sent.
    @Test func nonFiniteNumbersAreInvalidRequests() async throws {
        let server = try TestServer()
        let client = try client(server)
        var bad = request()
        bad.modelConfig.temperature = .nan
        do {
            _ = try await client.complete(bad)
            Issue.record("no error")
        } catch let HumanloopError.invalidRequest(message, path, errors) {
            #expect(path == "model_config.temperature")
            #expect(message == "model_config.temperature: nan is not a JSON number")
            #expect(errors == [FieldProblem(path: "model_config.temperature", message: message)])
        }
        let deployed = CompletionDeployedRequest(project: "demo", inputs: ["x": ["y": [1, .number(-.infinity)]]])
        do {
            for try await _ in client.completeDeployedStream(deployed) { Issue.record("an event") }
            Issue.record("no error")
        } catch let HumanloopError.invalidRequest(message, path, _) {
            #expect(path == "inputs.x.y[1]")
            #expect(message == "inputs.x.y[1]: -inf is not a JSON number")
        }
        #expect(try server.requests().isEmpty)
        // In a client's configuration: an invalid configuration.
        do {
            _ = try HumanloopClient(apiKey: "k", configuration: ["timeout": .number(.infinity)])
            Issue.record("no error")
        } catch let HumanloopError.invalidConfig(message, path, _) {
            #expect(path == "timeout" && message == "timeout: inf is not a JSON number")
        }
    }

    /// A bad configuration lists its problems.
    @Test func invalidConfig() throws {
        #expect {
            _ = try HumanloopClient(apiKey: "k", host: "ftp://example.invalid/v4")
        } throws: { error in
            guard case HumanloopError.invalidConfig(_, let path, _) = error else { return false }
            return path == "host"
        }
    }

    /// A late answer is a timeout.
    @Test func timeout() async throws {
        let server = try TestServer()
        try server.script(#"[{"delay":3}]"#)
        do {
            _ = try await client(server).with(timeout: .milliseconds(300)).complete(request())
            Issue.record("no error")
        } catch HumanloopError.timeout(_, let attempts) {
            #expect(attempts == 1)
        }
    }

    /// A connection closed without an answer is a connection_error.
    @Test func connectionError() async throws {
        let server = try TestServer()
        try server.script(#"[{"fault":"close_immediately"}]"#)
        do {
            _ = try await client(server).complete(request())
            Issue.record("no error")
        } catch HumanloopError.connectionError(let message, _) {
            #expect(!message.isEmpty)
        }
    }

    /// A 200 whose body is not JSON is an invalid_response with the text received.
    @Test func invalidResponse() async throws {
        let server = try TestServer()
        try server.script(#"[{"status":200,"body":"not json"}]"#)
        do {
            _ = try await client(server).complete(request())
            Issue.record("no error")
        } catch let HumanloopError.invalidResponse(status, body, _, _) {
            #expect(status == 200)
            #expect(body == "not json")
        }
    }

    /// A stream that fails before its first event throws from the loop.
    @Test func streamError() async throws {
        let server = try TestServer()
        try server.script(#"[{"status":429,"json":{"detail":"slow down"}}]"#)
        do {
            for try await _ in try client(server).completeStream(request()) {}
            Issue.record("no error")
        } catch let HumanloopError.apiError(status, _, body, _, _, _) {
            #expect(status == 429)
            #expect(body == ["detail": "slow down"])
        }
    }
}

}

extension SwiftAPITests {
@Suite struct CancellationTests {
    /// Cancelling the task ends the call with CancellationError at once and the server sees the
    /// connection closed.
    @Test func cancellingTheTaskClosesTheConnection() async throws {
        let server = try TestServer()
        let client = try client(server)
        let task = Task { try await client.complete(request(metadata: ["hl_test_delay": 5])) }
        #expect(try await server.wait(upTo: 5) { try server.requests().count == 1 })
        #expect(try server.stats()["connections_open"] as? Int == 1)
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(ContinuousClock.now - start < .milliseconds(100))
        // The server polls its waits every 50 ms.
        #expect(try await server.wait(upTo: 0.5) { try server.stats()["connections_open"] as? Int == 0 })
    }

    /// A task cancelled before the call starts sends nothing.
    @Test func cancelledBeforeTheCall() async throws {
        let server = try TestServer()
        let client = try client(server)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.complete(request())
        }
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(try server.requests().isEmpty)
    }

    /// Leaving the for-try-await loop cancels the stream and closes its connection.
    @Test func leavingTheLoopClosesTheConnection() async throws {
        let server = try TestServer()
        try server.script(#"[{"stream":{"forever":true,"delay":0.05}}]"#)
        var seen = 0
        for try await event in try client(server).completeStream(request()) {
            #expect(!event.data.isEmpty)
            seen += 1
            if seen == 3 { break }
        }
        #expect(seen == 3)
        #expect(try await server.wait(upTo: 0.5) { try server.stats()["connections_open"] as? Int == 0 })
    }

    /// Cancelling the task that consumes a stream ends the loop and closes the connection.
    @Test func cancellingAStreamTask() async throws {
        let server = try TestServer()
        try server.script(#"[{"stream":{"forever":true,"delay":0.05}}]"#)
        let client = try client(server)
        let task = Task {
            var seen = 0
            for try await _ in client.completeStream(request()) { seen += 1 }
            return seen
        }
        #expect(try await server.wait(upTo: 5) { try server.requests().count == 1 })
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        _ = try? await task.value
        #expect(try await server.wait(upTo: 0.5) { try server.stats()["connections_open"] as? Int == 0 })
    }
}

}

extension SwiftAPITests {
@Suite struct ConcurrencyTests {
    /// 1,000 concurrent calls from a TaskGroup run on the engine; each answer is its own.
    @Test func thousandCallsInATaskGroup() async throws {
        let server = try TestServer()
        let client = try client(server, ["max_retries": 2])
        let matched = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<1000 {
                group.addTask {
                    let response = try await client.complete(request(metadata: ["id": .integer(Int64(index))]))
                    return response.metadata?["id"] == .integer(Int64(index))
                }
            }
            var matched = 0
            for try await ok in group where ok { matched += 1 }
            return matched
        }
        #expect(matched == 1000)
        #expect(try server.stats()["requests"] as? Int == 1000)
    }
}

}

extension SwiftAPITests {
@Suite struct ModelTests {
    /// Members the types do not declare are kept, at every level.
    @Test func unknownFieldsAreKept() async throws {
        let server = try TestServer()
        try server.script(#"[{"json":{"data":[{"id":"d","index":0,"output":"o","raw_output":"o","inputs":{},"model_config_id":"c","finish_reason":"stop","score":0.5}],"provider_responses":[],"usage":{"prompt_tokens":1,"generation_tokens":2,"total_tokens":3,"cached_tokens":1},"new_field":{"a":[1,"x",null]},"session_id":"s1"}}]"#)
        let response = try await client(server).complete(request())
        #expect(response.extra == ["new_field": ["a": [1, "x", nil]], "session_id": "s1"])
        #expect(response.data[0].extra == ["score": 0.5])
        #expect(response.usage?.extra == ["cached_tokens": 1])
        // Encoding writes them back.
        let again = try JSONDecoder().decode(CompletionResponse.self, from: JSONEncoder().encode(response))
        #expect(again.extra == response.extra)
        #expect(again.data == response.data)
    }

    /// The JSON the Swift API builds, given to the C ABI's hl_call_run, puts the same body on the
    /// wire as the Swift call (JSON-equal; key order may differ).
    @Test func sameWireBodyAsTheCABI() async throws {
        let server = try TestServer()
        let swiftClient = try client(server)
        let full = CompletionRequest(
            project: "faq-bot",
            modelConfig: ModelConfigCompletionRequest(
                model: "gpt-3.5-turbo-instruct", promptTemplate: "Answer in one sentence.\n\nQuestion: {{question}}\nAnswer:",
                description: "One-sentence answers", name: "one-sentence-v2", provider: .openai, maxTokens: 64,
                temperature: 0.2, topP: 1, stop: ["\nQuestion:"], presencePenalty: 0, frequencyPenalty: 0.25,
                other: ["best_of": 1], endpoint: .complete),
            sessionReferenceId: "chat-7f3a", inputs: ["question": "Why is the sky blue? ☀️ \"quoted\" /slash"],
            source: "docs-example", metadata: ["channel": "web", "nested": ["x": [1.5, true, nil]]],
            providerApiKeys: ProviderApiKeys(openai: "sk-EXAMPLE-NOT-A-KEY"), numSamples: 1, logprobs: 2, stream: false,
            suffix: "", user: "user-42")
        _ = try await swiftClient.complete(full)
        var json = try HumanloopClient.requestJSON(full)
        json.append(0)
        let config = "{\"api_key\":\"test-key-0123456789\",\"host\":\"\(server.baseURL)\",\"proxy\":\"\",\"max_retries\":0}"
        let cClient = try #require(hl_client_new(config, nil))
        defer { hl_client_free(cClient) }
        let envelope = json.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { hl_call_run(cClient, "complete", $0.baseAddress, nil) }
        }
        defer { hl_free(envelope) }
        #expect(envelope.map { String(cString: $0) }?.hasPrefix(#"{"ok":true"#) == true)
        let bodies = try server.bodies()
        #expect(bodies.count == 2)
        #expect(bodies[0] == bodies[1])
        // And the same as the documentation's example request, for the fields both set.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("docs/examples/completion.request.json"))) as? NSDictionary
        #expect(bodies[0]["model_config"] as? NSDictionary == example?["model_config"] as? NSDictionary)
    }

    /// The issue's example compiles as written and decodes the documentation's 200 answer.
    @Test func decodesTheDocumentedAnswer() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("docs/examples/completion.response.200.json"))
        let response = try JSONDecoder().decode(CompletionResponse.self, from: data)
        #expect(response.data[0].output == "Air scatters blue sunlight more than red, so the sky looks blue.")
        #expect(response.usage == Usage(promptTokens: 19, generationTokens: 15, totalTokens: 34))
        #expect(response.metadata == ["channel": "web"])
        #expect(response.extra.isEmpty)
    }
}
}
