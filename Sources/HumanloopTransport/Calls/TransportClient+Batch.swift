#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

extension TransportClient {
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
        let collected = Lock()
        var results = [[UInt8]](repeating: [], count: batch.items.count)
        let finished = Latch()
        let run = BatchRun(client: self, batch: batch) { report in
            switch report {
            case .result(let index, let envelope): collected.withLock { results[index] = envelope }
            case .finished: finished.open()
            }
        }
        run.start()
        finished.wait()
        return collected.withLock {
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

    /// Reads a batch for hl_batch_submit: the batch, or the error envelope of a malformed one.
    public func readBatch(json: [UInt8]?) -> Result<BatchRequest, CallError> {
        do {
            return .success(try BatchRequest(json: json, providerKeys: configuration.providerKeys))
        } catch {
            return .failure(error)
        }
    }
}
