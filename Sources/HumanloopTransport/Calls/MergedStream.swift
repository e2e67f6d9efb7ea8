import HumanloopCore

/// The events of a stream merged into one success result (a non-streaming call whose request
/// has `"stream": true`).
///
/// Everything kept (the events and the merged texts) is bounded by `max_response_bytes`: past
/// it, `add` reports the failure that ends the call.
struct MergedStream {
    private var merger = StreamMerger()
    private var events: [[UInt8]] = []
    private var eventBytes = 0
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Adds an event; returns the failure of the call when the limit is passed.
    mutating func add(_ raw: [UInt8]) -> CallError? {
        // Checked as a JSON object by the decoder; read again here for the merge.
        if let value = try? JSONReader.parse(raw) { merger.add(value) }
        events.append(raw)
        eventBytes += raw.count
        guard eventBytes + merger.mergedTextBytes > limit else { return nil }
        let count = events.count
        return .invalidResponse("the stream's events and merged text exceed max_response_bytes (\(limit) bytes) after \(count) event\(count == 1 ? "" : "s"); the rest was not read",
                                status: 200, body: "")
    }

    /// The result of the stream that ended with `output`, a terminal output of `call`.
    func result(_ output: Call.Output, of call: Call) -> CallResult {
        guard case .done(let head, let roundTripTime, let timings) = output else { return call.result(output) }
        return .success(head: head, body: JSONSerializer.bytes(of: merger.body), roundTripTime: roundTripTime,
                        attempts: call.attempts, timings: timings, events: events)
    }
}
