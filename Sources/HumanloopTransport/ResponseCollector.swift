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
    private(set) var status = 0
    private(set) var reason = ""
    private(set) var headers = JSONObject()
    private(set) var body: [UInt8] = []
    private(set) var receivedHead = false
    /// Body bytes received so far (buffered or decoded).
    private(set) var bodyBytesReceived = 0
    /// Monotonic time of the last byte received (header or body); the creation time at first.
    private(set) var lastReceive = Clock.monotonic()
    /// Events decoded and not yet taken.
    var items: [StreamItem] = []
    /// A failure detected inside a callback (it aborted the transfer).
    private(set) var failure: HumanloopError?
    private(set) var decoder: EventStreamDecoder

    init(mode: BodyMode, maximumBytes: Int) {
        self.mode = mode
        self.maximumBytes = maximumBytes
        decoder = EventStreamDecoder(maximumEventBytes: maximumBytes)
    }

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

    /// Events decoded so far (0 for a buffered body).
    var decodedEventCount: Int { decoder.eventCount }

    var head: ResponseHead {
        ResponseHead(status: status, reason: reason.isEmpty ? ReasonPhrase.standard(for: status) : reason, headers: headers)
    }

    /// One header line (status line, header, or the blank line). Returns false to abort.
    func receiveHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        lastReceive = Clock.monotonic()
        var end = line.count
        while end > 0 && (line[end - 1] == 0x0A || line[end - 1] == 0x0D) { end -= 1 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<end]), as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            // A new response (a redirect's or an interim 1xx answer's headers are dropped).
            let parts = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            reason = parts.count > 2 ? String(parts[2]) : ""
            headers = JSONObject()
            return true
        }
        if text.isEmpty {
            if status >= 200 { receivedHead = true }
            return true
        }
        guard let colon = text.firstIndex(of: ":") else { return true }
        let name = text[..<colon].lowercased()
        let value = String(text[text.index(after: colon)...]).trimmed
        if case .string(let previous) = headers[name] {
            headers[name] = .string(previous + ", " + value)
        } else {
            headers[name] = .string(value)
        }
        return true
    }

    /// Body bytes. Returns false to abort the transfer.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        lastReceive = Clock.monotonic()
        bodyBytesReceived += bytes.count
        if mode == .eventStream && isSuccessStatus {
            do throws(HumanloopError) {
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
        do throws(HumanloopError) {
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
