import HumanloopCore

/// Runs the calls of a batch on the client's engine, at most `concurrency` at once, and
/// collects their envelopes in request order.
final class BatchRun: @unchecked Sendable {
    private let client: HumanloopClient
    private let items: [Result<BatchRequest.Item, HumanloopError>]
    private let lock = Lock()
    private var results: [[UInt8]?]  // guarded by lock
    private var nextIndex = 0  // guarded by lock
    private var remaining: Int  // guarded by lock
    private let finished = Latch()

    init(client: HumanloopClient, batch: BatchRequest) {
        self.client = client
        items = batch.items
        results = Array(repeating: nil, count: batch.items.count)
        remaining = batch.items.count
    }

    /// Starts the first calls and waits for every result.
    func run(concurrency: Int) -> [[UInt8]] {
        if items.isEmpty { return [] }
        for _ in 0..<min(concurrency, items.count) { startNext() }
        finished.wait()
        return lock.withLock { results.map { $0 ?? [] } }
    }

    /// Starts the next call of the batch, if any is left.
    private func startNext() {
        let index = lock.withLock { () -> Int? in
            guard nextIndex < items.count else { return nil }
            defer { nextIndex += 1 }
            return nextIndex
        }
        guard let index else { return }
        let engine = client.engines.current
        let sink: ItemSink = { [self] item, isTerminal in
            guard isTerminal else { return }
            let done = lock.withLock { () -> Bool in
                results[index] = item
                remaining -= 1
                return remaining == 0
            }
            if done { finished.open() } else { startNext() }
        }
        let asyncCall: AsyncCall
        switch items[index] {
        case .success(let item):
            asyncCall = AsyncCall(engine: engine, call: Call(client: client, request: item.request, options: item.options),
                                  deliversEvents: false, sink: sink)
        case .failure(let error):
            asyncCall = AsyncCall(engine: engine, failure: client.encode(client.failureEnvelope(error, attempts: 0)), sink: sink)
        }
        asyncCall.start()
    }
}

extension HumanloopClient {
    /// Runs a batch (hl_batch) on the engine and returns `{"ok":true,"results":[...]}`, or one
    /// error envelope for a malformed batch. Must not run on the engine's thread.
    public func runBatch(json: [UInt8]?) -> [UInt8] {
        if engines.current.isEngineThread {
            return encode(failureEnvelope(.invalidRequest([ValidationIssue(
                path: "", message: "hl_batch cannot run inside a callback of the same client: it would wait for the engine that runs the callback")]), attempts: 0))
        }
        let batch: BatchRequest
        do {
            batch = try BatchRequest(json: json, providerKeys: configuration.providerKeys)
        } catch {
            return encode(failureEnvelope(error, attempts: 0))
        }
        let results = BatchRun(client: self, batch: batch).run(concurrency: batch.concurrency)
        var output = Array(#"{"ok":true,"results":["#.utf8)
        output.reserveCapacity(results.reduce(32) { $0 + $1.count + 1 })
        for (index, result) in results.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: result)
        }
        output.append(contentsOf: "]}".utf8)
        return output
    }
}
