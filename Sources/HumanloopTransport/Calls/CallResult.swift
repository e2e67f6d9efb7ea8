import HumanloopCore

/// One item a call hands out, typed: what the C ABI's encoder (`EnvelopeEncoder`) writes as
/// the envelope. Transport never writes envelope JSON itself.
public enum CallResult {
    /// A server event of a stream: its exact bytes (checked to be one JSON object), with the
    /// answer's head for the first event.
    case event(raw: [UInt8], head: ResponseHead?)
    /// The stream ended cleanly (terminal).
    case streamDone(head: ResponseHead, roundTripTime: Double, attempts: Int, eventCount: Int)
    /// A 2xx answer whose body is one JSON object (terminal): a buffered answer, or a stream
    /// merged into one (`body` the merged body, `events` the events' exact bytes).
    case success(head: ResponseHead, body: [UInt8], roundTripTime: Double, attempts: Int, timings: PhaseTimings,
                 events: [[UInt8]]?)
    /// The call failed (terminal). `secrets` (the client's, and the request's once it was read)
    /// are redacted from everything the error shows.
    case failure(CallError, attempts: Int, secrets: Secrets)

    public var isTerminal: Bool {
        if case .event = self { return false }
        return true
    }
}
