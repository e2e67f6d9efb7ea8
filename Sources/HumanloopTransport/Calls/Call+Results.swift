import HumanloopCore

extension Call {
    /// The item of `output`, with what its envelope needs (attempts, event count, secrets).
    func result(_ output: Output) -> CallResult {
        switch output {
        case .event(let raw, let head):
            return .event(raw: raw, head: head)
        case .done(let head, let roundTripTime, _):
            return .streamDone(head: head, roundTripTime: roundTripTime, attempts: attempts, eventCount: eventCount)
        case .response(let head, let body, let roundTripTime, let timings):
            if let failure = Self.unusableBody(body, status: head.status) {
                // Redacted as the client's failures are (the request's own keys are not in it).
                return .failure(failure, attempts: attempts, secrets: clientSecrets)
            }
            return .success(head: head, body: body, roundTripTime: roundTripTime, attempts: attempts, timings: timings,
                            events: nil)
        case .failure(let error):
            return .failure(error, attempts: attempts, secrets: secrets)
        }
    }

    /// Why a 2xx body cannot be handed out (empty, not JSON, not one JSON object); nil when it
    /// can (it is then spliced into the envelope byte-exact, jansson having checked it).
    static func unusableBody(_ body: [UInt8], status: Int) -> CallError? {
        let text = { String(decoding: body, as: UTF8.self) }
        if body.isEmpty {
            return .invalidResponse("the server answered \(status) with an empty body", status: status, body: "")
        }
        let type: String
        do {
            type = try JSONReader.check(body)
        } catch {
            return .invalidResponse("the server answered \(status) with a body that is not JSON: \(error)", status: status, body: text())
        }
        guard type == "object" else {
            return .invalidResponse("the server answered \(status) with a JSON \(type), not a JSON object", status: status, body: text())
        }
        return nil
    }
}
