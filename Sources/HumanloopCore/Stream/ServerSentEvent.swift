/// One dispatched server-sent event: the joined `data` lines (without the final line feed).
public struct ServerSentEvent: Equatable, Sendable {
    /// The event's data: every `data` field of the event joined with "\n".
    public var data: [UInt8]

    public init(data: [UInt8]) { self.data = data }
}
