/// One item decoded from a completion event stream.
public enum StreamItem: Sendable {
    /// An event: its JSON object, and the exact bytes of its data.
    case event(JSONValue, raw: [UInt8])
    /// The `[DONE]` end marker.
    case done
}

/// Turns the bytes of a `text/event-stream` body into completion events.
///
/// Every event must be a JSON object; the first one that is not ends the stream with
/// `HumanloopError.invalidResponse`.
public struct EventStreamDecoder: Sendable {
    private var parser = ServerSentEventParser()
    private let maximumEventBytes: Int
    /// How many events were decoded so far.
    public private(set) var eventCount = 0
    /// True once `[DONE]` was seen (later bytes are ignored).
    public private(set) var sawDone = false

    /// - Parameter maximumEventBytes: the largest single event accepted.
    public init(maximumEventBytes: Int) {
        self.maximumEventBytes = maximumEventBytes
    }

    /// Decodes the events completed by `bytes`.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HumanloopError) -> [StreamItem] {
        guard !sawDone else { return [] }
        let events = parser.feed(bytes)
        if parser.pendingByteCount > maximumEventBytes {
            throw .invalidResponse("a stream event exceeds max_response_bytes (\(maximumEventBytes) bytes)", status: 200, body: "")
        }
        return try decode(events)
    }

    /// The body ended: decodes a last event that lacked its blank line.
    public mutating func finish() throws(HumanloopError) -> [StreamItem] {
        guard !sawDone else { return [] }
        return try decode(parser.finish())
    }

    private mutating func decode(_ events: [ServerSentEvent]) throws(HumanloopError) -> [StreamItem] {
        var items: [StreamItem] = []
        for event in events {
            if sawDone { break }
            if event.data.elementsEqual("[DONE]".utf8) {
                sawDone = true
                items.append(.done)
                continue
            }
            let position = eventCount + 1
            let text = String(decoding: event.data.prefix(200), as: UTF8.self)
            let value: JSONValue
            do { value = try JSONParser.parse(event.data) } catch {
                throw .invalidResponse("event \(position) of the stream is not JSON: \(error)", status: 200, body: text)
            }
            guard case .object = value else {
                throw .invalidResponse("event \(position) of the stream is \(RequestValidator.article(value.typeName)), not a JSON object", status: 200, body: text)
            }
            eventCount += 1
            items.append(.event(value, raw: event.data))
        }
        return items
    }
}
