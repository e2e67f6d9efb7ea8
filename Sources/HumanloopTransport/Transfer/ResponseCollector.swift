import HumanloopCore

/// What libcurl's callbacks collect during one exchange: the status line, the headers, and the
/// body (buffered, or decoded as an event stream as it arrives).
final class ResponseCollector {
    enum BodyMode {
        /// Keep the body, failing once it passes the limit.
        case buffer
        /// Decode a 2xx body as server-sent events; a non-2xx body is buffered.
        case eventStream
    }

    let mode: BodyMode
    let maximumBytes: Int
    private var headParser = ResponseHeadParser()
    private(set) var body: [UInt8] = []
    /// Body bytes received so far (buffered or decoded).
    private(set) var bodyBytesReceived = 0
    /// Monotonic time of the last byte received (header or body); the creation time at first.
    private(set) var lastReceive = Clock.monotonic()
    /// Events decoded and not yet taken: `items[itemsTaken...]` (a FIFO; taking is O(1)).
    private var items: [StreamItem] = []
    private var itemsTaken = 0
    /// A failure detected inside a callback (it aborted the transfer).
    private(set) var failure: CallError?
    private(set) var decoder: EventStreamDecoder

    init(mode: BodyMode, maximumBytes: Int) {
        self.mode = mode
        self.maximumBytes = maximumBytes
        decoder = EventStreamDecoder(maximumEventBytes: maximumBytes)
    }

    /// The status of the current answer (0 before its status line).
    var status: Int { headParser.status }
    /// True once a final (non-1xx) head has arrived.
    var receivedHead: Bool { headParser.isComplete }
    var headers: JSONObject { headParser.headers }

    var isSuccessStatus: Bool { (200...299).contains(status) }

    /// The value of the Content-Length header, if the answer has a valid one.
    var contentLength: Int? {
        guard case .string(let text) = headers["content-length"], let value = Int(text.trimmed), value >= 0 else { return nil }
        return value
    }

    /// True when the answer's body is sent with chunked transfer encoding.
    var isChunked: Bool {
        guard case .string(let text) = headers["transfer-encoding"] else { return false }
        return text.lowercased().contains("chunked")
    }

    /// Set when a header line or body bytes arrive; cleared by the transfer's check for an
    /// answer that ended before the request did (`Transfer.takeEarlyAnswer`).
    var receivedSinceCheck = false

    /// The body's bytes are refused for now (flow control; see `Transfer.setPaused`).
    var isPaused = false

    /// Counts now as the time of the last byte received (a paused transfer resumed: the wait
    /// for data starts again).
    func noteActivity() { lastReceive = Clock.monotonic() }

    /// True when decoded events are waiting to be taken.
    var hasItems: Bool { itemsTaken < items.count }

    /// The oldest decoded event not taken yet.
    func takeItem() -> StreamItem? {
        guard itemsTaken < items.count else { return nil }
        let item = items[itemsTaken]
        itemsTaken += 1
        if itemsTaken == items.count {
            items.removeAll(keepingCapacity: true)
            itemsTaken = 0
        } else if itemsTaken >= 64 && itemsTaken * 2 >= items.count {
            // Drop the taken prefix once it is at least half the array: O(1) amortised per item.
            items.removeFirst(itemsTaken)
            itemsTaken = 0
        }
        return item
    }

    /// Events decoded so far (0 for a buffered body).
    var decodedEventCount: Int { decoder.eventCount }

    var head: ResponseHead {
        let reason = headParser.reason
        return ResponseHead(status: status, reason: reason.isEmpty ? ReasonPhrase.standard(for: status) : reason, headers: headers)
    }

    /// One header line (status line, header, or the blank line). Returns false to abort.
    func receiveHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        lastReceive = Clock.monotonic()
        receivedSinceCheck = true
        do throws(CallError) {
            try headParser.receive(line: line)
            return true
        } catch {
            failure = error
            return false
        }
    }

    /// When set, body bytes are dropped, up to this many more (past it the transfer is aborted).
    private var discardAllowance: Int?

    /// Drops the rest of the body (after a stream's `[DONE]`), aborting past `maximumBytes`.
    func discardRest(maximumBytes: Int) {
        discardAllowance = maximumBytes
    }

    /// Body bytes. Returns false to abort the transfer.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        lastReceive = Clock.monotonic()
        receivedSinceCheck = true
        if let allowance = discardAllowance {
            discardAllowance = allowance - bytes.count
            return allowance >= bytes.count
        }
        bodyBytesReceived += bytes.count
        if mode == .eventStream && isSuccessStatus {
            do throws(CallError) {
                items.append(contentsOf: try decoder.feed(bytes))
            } catch {
                failure = error
            }
            adoptDecoderFailure()
            return failure == nil
        }
        guard body.count + bytes.count <= maximumBytes else {
            failure = .invalidResponse("the body of the \(status) answer exceeds max_response_bytes (\(maximumBytes) bytes); the rest was not read",
                                       status: status, body: String(decoding: body.prefix(200), as: UTF8.self))
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// The body ended cleanly: decode a last event without its blank line.
    func finishStream() {
        guard mode == .eventStream && isSuccessStatus else { return }
        do throws(CallError) {
            items.append(contentsOf: try decoder.finish())
        } catch {
            failure = error
        }
        adoptDecoderFailure()
    }

    /// A bad event the decoder met after good ones in the same bytes: those events are
    /// delivered first, then this failure ends the stream.
    private func adoptDecoderFailure() {
        if failure == nil, let decoderFailure = decoder.failure { failure = decoderFailure }
    }
}
