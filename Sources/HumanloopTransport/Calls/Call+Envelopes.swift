import HumanloopCore

extension Call {
    /// The envelope of `output` as the C API hands it out: a stream item (event, done), the
    /// success envelope of a buffered answer, or a failure.
    func envelope(_ output: Output) -> [UInt8] {
        switch output {
        case .event(let raw, let head):
            return Envelope.streamEvent(rawJSON: raw, head: head)
        case .done(let head, let roundTripTime, _):
            return client.encode(Envelope.streamDone(head: head, roundTripTime: roundTripTime, attempts: attempts,
                                                     eventCount: eventCount))
        case .response(let head, let body, let roundTripTime, let timings):
            return client.successEnvelope(head: head, body: body, roundTripTime: roundTripTime, attempts: attempts, timings: timings)
        case .failure(let error):
            return client.encode(client.failureEnvelope(error, attempts: attempts, secrets: secrets))
        }
    }
}
