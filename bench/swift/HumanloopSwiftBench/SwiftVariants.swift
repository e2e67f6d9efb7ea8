import Humanloop

/// The Swift API's side of the bench: the same request as `CBaseline.body`, as typed values.
enum SwiftVariants {
    static let request = CompletionRequest(
        project: "bench",
        modelConfig: ModelConfigCompletionRequest(model: "gpt-3.5-turbo-instruct", promptTemplate: "{{question}}",
                                                  maxTokens: -1, temperature: 0.7),
        inputs: ["question": "What do llamas eat?"])

    /// A Swift client like `CBaseline.client(url:maxConnections:)`.
    static func client(url: String, maxConnections: Int) throws -> HumanloopClient {
        try HumanloopClient(apiKey: "bench-key", host: url,
                            configuration: ["proxy": "", "max_connections": .integer(Int64(maxConnections))])
    }

    /// (b) a `TaskGroup` of `n` `complete` calls. Returns the number of failed calls.
    static func concurrent(client: HumanloopClient, n: Int) async -> Int {
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<n {
                group.addTask {
                    guard let response = try? await client.complete(request) else { return false }
                    return !response.data.isEmpty
                }
            }
            var failures = 0
            for await ok in group where !ok { failures += 1 }
            return failures
        }
    }

    /// (d) `n` sequential `try await client.complete(...)`. Returns the number of failed calls.
    static func sequential(client: HumanloopClient, n: Int) async -> Int {
        var failures = 0
        for _ in 0..<n {
            do {
                let response = try await client.complete(request)
                if response.data.isEmpty { failures += 1 }
            } catch {
                failures += 1
            }
        }
        return failures
    }
}
