import HumanloopCore
import HumanloopTransport

/// The one writer of envelopes, the JSON the C API hands out: Transport hands over typed
/// results (`CallResult`, a batch's summary) and failures (`CallError`), and only this layer
/// formats them, as SQLite's API layer alone formats what its core returns. The byte-level
/// format of each envelope is Core's `Envelope` (pure, and tested there); this is its only user.
enum EnvelopeEncoder {
    /// The envelope of one item of a call: `{"ok":true,"event":...}`, a stream's terminal
    /// `{"ok":true,"done":true,...}`, `{"ok":true,"status":...}` or `{"ok":false,"error":{...}}`.
    static func encode(_ result: CallResult) -> [UInt8] {
        switch result {
        case .event(let raw, let head):
            return Envelope.streamEvent(rawJSON: raw, head: head)
        case .streamDone(let head, let roundTripTime, let attempts, let eventCount):
            return JSONSerializer.bytes(of: Envelope.streamDone(head: head, roundTripTime: roundTripTime, attempts: attempts,
                                                                eventCount: eventCount))
        case .success(let head, let body, let roundTripTime, let attempts, let timings, let events):
            return Envelope.success(head: head, body: body, roundTripTime: roundTripTime, attempts: attempts, timings: timings,
                                    events: events)
        case .failure(let error, let attempts, let secrets):
            return failure(error, attempts: attempts, secrets: secrets)
        }
    }

    /// `{"ok":false,"error":{...},"attempts":N}` with every one of `secrets` redacted (none when
    /// there is no client: a configuration that could not be read).
    static func failure(_ error: CallError, attempts: Int = 0, secrets: Secrets = Secrets()) -> [UInt8] {
        JSONSerializer.bytes(of: Envelope.failure(error, attempts: attempts, secrets: secrets))
    }

    /// hl_batch's answer: `{"ok":true,"results":[...]}`, each request's envelope in order.
    static func batchResults(_ results: [CallResult]) -> [UInt8] {
        let envelopes = results.map(encode)
        var output = Array(#"{"ok":true,"results":["#.utf8)
        output.reserveCapacity(envelopes.reduce(32) { $0 + $1.count + 1 })
        for (index, envelope) in envelopes.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: envelope)
        }
        output.append(contentsOf: "]}".utf8)
        return output
    }

    /// One item of hl_batch_submit: `{"index":i,"result":<the request's envelope>}`.
    static func batchItem(index: Int, result: CallResult) -> [UInt8] {
        let envelope = encode(result)
        var item = Array(#"{"index":\#(index),"result":"#.utf8)
        item.reserveCapacity(item.count + envelope.count + 1)
        item.append(contentsOf: envelope)
        item.append(UInt8(ascii: "}"))
        return item
    }

    /// The terminal item of hl_batch_submit:
    /// `{"ok":true,"done":n,"failed":f,"cancelled":c,"not_started":m}`.
    static func batchSummary(_ summary: BatchRun.Summary) -> [UInt8] {
        Array(#"{"ok":true,"done":\#(summary.done),"failed":\#(summary.failed),"cancelled":\#(summary.cancelled),"not_started":\#(summary.notStarted)}"#.utf8)
    }
}
