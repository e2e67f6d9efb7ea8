#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

extension TransportClient {
    /// Runs a batch (hl_batch) on the engine and returns each request's result in order, or the
    /// failure of a malformed batch. Must not run on the engine's thread.
    public func runBatch(json: [UInt8]?) -> Result<[CallResult], CallError> {
        if engines.current.isEngineThread {
            return .failure(.invalidRequest([ValidationIssue(
                path: "", message: "hl_batch cannot run inside a callback of the same client: it would wait for the engine that runs the callback")]))
        }
        let batch: BatchRequest
        switch readBatch(json: json) {
        case .success(let read): batch = read
        case .failure(let error): return .failure(error)
        }
        let collected = Lock()
        var results = [CallResult?](repeating: nil, count: batch.items.count)
        let finished = Latch()
        let run = BatchRun(client: self, batch: batch) { report in
            switch report {
            case .result(let index, let result): collected.withLock { results[index] = result }
            case .finished: finished.open()
            }
        }
        run.start()
        finished.wait()
        return .success(collected.withLock {
            results.map { $0 ?? .failure(.connectionError("the call ended without a result"), attempts: 0, secrets: secrets) }
        })
    }

    /// Reads a batch (hl_batch, hl_batch_submit): the batch, or why it is malformed.
    public func readBatch(json: [UInt8]?) -> Result<BatchRequest, CallError> {
        do {
            return .success(try BatchRequest(json: json, providerKeys: configuration.providerKeys))
        } catch {
            return .failure(error)
        }
    }
}
