/// Turns the bytes of a `text/event-stream` body into completion events.
///
/// Every event must be a JSON object; the first one that is not ends the stream with
/// `CallError.invalidResponse`. Events decoded before a bad one are never lost: when the
/// same bytes complete good events and then a bad one, `feed` returns the good events and
/// throws the error on the next `feed` or `finish`.
public struct EventStreamDecoder: Sendable {
    private var parser = ServerSentEventParser()
    private let maximumEventBytes: Int
    /// How many events were decoded so far.
    public private(set) var eventCount = 0
    /// True once `[DONE]` was seen (later bytes are ignored).
    public private(set) var sawDone = false
    /// The error that ended the stream (thrown by every later call), if any.
    public private(set) var failure: CallError?

    /// - Parameter maximumEventBytes: the largest single event accepted.
    public init(maximumEventBytes: Int) {
        self.maximumEventBytes = maximumEventBytes
    }

    /// Decodes the events completed by `bytes`.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(CallError) -> [StreamItem] {
        if let failure { throw failure }
        guard !sawDone else { return [] }
        let items = decode(parser.feed(bytes))
        if failure == nil && parser.pendingByteCount > maximumEventBytes {
            failure = .invalidResponse("a stream event exceeds max_response_bytes (\(maximumEventBytes) bytes)", status: 200, body: "")
        }
        if let failure, items.isEmpty { throw failure }
        return items
    }

    /// Decodes the events completed by `bytes` (an array).
    public mutating func feed(_ bytes: [UInt8]) throws(CallError) -> [StreamItem] {
        let result: Result<[StreamItem], CallError> = bytes.withUnsafeBytes { buffer in
            do throws(CallError) { return .success(try feed(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The body ended: decodes a last event that lacked its blank line.
    public mutating func finish() throws(CallError) -> [StreamItem] {
        if let failure { throw failure }
        guard !sawDone else { return [] }
        let items = decode(parser.finish())
        if let failure, items.isEmpty { throw failure }
        return items
    }

    /// Decodes events until the end marker or the first bad event (recorded in `failure`).
    private mutating func decode(_ events: [ServerSentEvent]) -> [StreamItem] {
        var items: [StreamItem] = []
        for event in events {
            if sawDone { break }
            if event.data.elementsEqual("[DONE]".utf8) {
                sawDone = true
                items.append(.done)
                continue
            }
            let position = eventCount + 1
            let text = { String(decoding: event.data.prefix(200), as: UTF8.self) }
            let type: String
            do { type = try JSONReader.check(event.data) } catch {
                failure = .invalidResponse("event \(position) of the stream is not JSON: \(error)", status: 200, body: text())
                break
            }
            guard type == "object" else {
                failure = .invalidResponse("event \(position) of the stream is \(RequestValidator.article(type)), not a JSON object", status: 200, body: text())
                break
            }
            eventCount += 1
            items.append(.event(raw: event.data))
        }
        return items
    }
}
