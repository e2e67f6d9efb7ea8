// HumanloopExample: the Swift API (import Humanloop) in one file to copy.
//
// In your own package:  .package(path: "../libhumanloop")  (or its git URL), then
//   .executableTarget(name: "MyApp", dependencies: [.product(name: "Humanloop", package: "libhumanloop")])
//
// Here, against the bundled test server (no network beyond 127.0.0.1):
//   swift build --product HumanloopExample
//   bash examples/run-against-test-server.sh .build/debug/HumanloopExample
// Against the real API: HUMANLOOP_API_KEY=... .build/debug/HumanloopExample
import Humanloop

// HumanloopClient() reads HUMANLOOP_API_KEY and HUMANLOOP_HOST, as the C library's default
// client does; HumanloopClient(apiKey: "...", host: "...") names them.
let client = try HumanloopClient().with(timeout: .seconds(30), maxRetries: 2)

let request = CompletionRequest(
    project: "demo",
    modelConfig: ModelConfigCompletionRequest(model: "gpt-3.5-turbo-instruct", promptTemplate: "{{q}}", temperature: 0.7),
    inputs: ["q": "Hi"])

// 1. One call: async, typed answer, with the HTTP status and the attempts it took.
let response = try await client.complete(request)
print("complete:", response.data[0].output, "| status", response.status, "| attempts", response.attempts)

// 2. A stream: the events as they arrive (leaving the loop early cancels the call).
print("stream:   ", terminator: "")
for try await event in client.completeStream(request) {
    print(event.data[0].output, terminator: "")
}
print()

// 3. Many calls at once: a TaskGroup; the library's engine runs them all on one thread.
let outputs = try await withThrowingTaskGroup(of: String.self) { group in
    for question in ["a", "b", "c"] {
        group.addTask {
            var one = request
            one.inputs = ["q": .string(question)]
            return try await client.complete(one).data[0].output
        }
    }
    var outputs: [String] = []
    for try await output in group { outputs.append(output) }
    return outputs
}
print("group:    \(outputs.count) answers")

// 4. Errors are HumanloopError cases (validation happens before anything is sent).
do {
    var bad = request
    bad.modelConfig.provider = "no-such-provider"
    _ = try await client.complete(bad)
} catch let HumanloopError.invalidRequest(message, path, _) {
    print("invalid:  \(path ?? "-"): \(message)")
}

// 5. Cancelling the task cancels the transfer and closes its connection.
let slow = Task { try await client.complete(request) }
slow.cancel()
do {
    _ = try await slow.value
} catch is CancellationError {
    print("cancel:   CancellationError")
}
