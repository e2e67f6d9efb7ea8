import CCurl
import HumanloopCore

/// One HTTP POST (one attempt of a call) on a handle attached to a loop's multi handle (the
/// loop reports the end with `finish(with:)`).
final class Transfer {
    let handle: CurlHandle
    let multi: UnsafeMutableRawPointer
    let collector: ResponseCollector
    private let body: UnsafeMutableRawBufferPointer
    /// The request body's length (`body` holds at least one byte).
    private let bodyLength: Int
    private let settings: TransportSettings
    private(set) var startTime: Double
    private(set) var result: CURLcode?
    private var attached = false
    private var ownsHandle = true
    /// True when the exchange was ended because no byte arrived for low_speed_timeout.
    private(set) var stalled = false
    /// True when a stream's `timeout` passed before its first event.
    private var timedOutBeforeFirstEvent = false
    /// True when no connection could be made because the process ran out of descriptors
    /// (EMFILE/ENFILE; libcurl reports it as a failure to connect).
    var ranOutOfDescriptors: Bool {
        result == CURLE_COULDNT_CONNECT && DescriptorBudget.isExhaustion(errno: Int(handle.socketErrno))
    }
    /// True when `timeout` passed before the request could be sent: the transfer waited in the
    /// engine's queue for a connection (max_connections), where libcurl does not time it.
    private(set) var timedOutInQueue = false
    /// What libcurl's multi interface reported when it failed (the transfer then ends).
    private var multiFailure: CURLMcode?

    /// Starts the exchange: attaches `handle` to `multi` (a failure to attach ends it at once).
    init(handle: CurlHandle, multi: UnsafeMutableRawPointer, settings: TransportSettings, url: String, body: [UInt8],
         mode: ResponseCollector.BodyMode) {
        self.handle = handle
        self.multi = multi
        self.settings = settings
        collector = ResponseCollector(mode: mode, maximumBytes: settings.maxResponseBytes)
        self.body = .allocate(byteCount: max(body.count, 1), alignment: 1)
        self.body.copyBytes(from: body)
        bodyLength = body.count
        startTime = Clock.monotonic()
        configure(url: url, bodyCount: body.count)
        let added = curl_multi_add_handle(multi, handle.easy)
        attached = added == CURLM_OK
        if !attached { fail(multi: added) }
    }

    deinit {
        if ownsHandle { detach() }
        body.deallocate()
    }

    private func configure(url: String, bodyCount: Int) {
        let h = handle
        h.clearError()
        h.set(CURLOPT_URL, url)
        _ = hl_curl_easy_setopt_off(h.easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyCount))
        _ = hl_curl_easy_setopt_pointer(h.easy, CURLOPT_POSTFIELDS, body.baseAddress)
        let context = Unmanaged.passUnretained(collector).toOpaque()
        _ = hl_curl_easy_setopt_pointer(h.easy, CURLOPT_HEADERDATA, context)
        _ = hl_curl_easy_setopt_pointer(h.easy, CURLOPT_WRITEDATA, context)
        // Per transfer: a call's options may change them.
        _ = hl_curl_easy_setopt_slist(h.easy, CURLOPT_HTTPHEADER, settings.headers.list)
        // A stream's `timeout` bounds only its head and first event (`firstEventDeadline`,
        // checked here): a stream that keeps sending never times out.
        h.set(CURLOPT_TIMEOUT_MS, collector.mode == .eventStream ? 0 : settings.timeoutMilliseconds)
        h.set(CURLOPT_CONNECTTIMEOUT_MS, settings.connectTimeoutMilliseconds)
        if !h.hasClientOptions {
            setClientOptions()
            h.hasClientOptions = true
        }
    }

    /// The options that stay the same for every transfer of the client's handles (a handle
    /// never leaves its client's pool), set once per handle.
    private func setClientOptions() {
        let h = handle
        h.set(CURLOPT_NOSIGNAL, 1)
        h.set(CURLOPT_POST, 1)
        h.set(CURLOPT_USERAGENT, settings.userAgent)
        // Every encoding this libcurl decodes (gzip, deflate, br, zstd as built), decoded here.
        h.set(CURLOPT_ACCEPT_ENCODING, "")
        // On the engine's multi handle: wait for a connection that can multiplex (HTTP/2)
        // rather than open another one.
        h.set(CURLOPT_PIPEWAIT, settings.mayMultiplex ? 1 : 0)
        h.set(CURLOPT_PROTOCOLS_STR, "http,https")
        h.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        h.set(CURLOPT_FOLLOWLOCATION, 0)
        h.set(CURLOPT_SSL_VERIFYPEER, 1)
        h.set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caBundle = settings.caBundle { h.set(CURLOPT_CAINFO, caBundle) }
        if let proxy = settings.proxy { h.set(CURLOPT_PROXY, proxy) }
        // low_speed_timeout is enforced by `step` (libcurl's low-speed check averages over a
        // window that includes the upload, so it cannot express "no byte for N seconds").
        h.set(CURLOPT_LOW_SPEED_LIMIT, 0)
        h.set(CURLOPT_LOW_SPEED_TIME, 0)
        h.set(CURLOPT_TCP_KEEPALIVE, 1)
        h.set(CURLOPT_TCP_NODELAY, 1)
        h.share = settings.share
        _ = hl_curl_easy_setopt_share(h.easy, settings.share.pointer)
        _ = hl_curl_easy_setopt_data_callback(h.easy, CURLOPT_HEADERFUNCTION, headerCallback)
        _ = hl_curl_easy_setopt_data_callback(h.easy, CURLOPT_WRITEFUNCTION, writeCallback)
    }

    /// True once the exchange has ended (or failed to start).
    var isComplete: Bool { result != nil }

    /// Ends the transfer because libcurl's multi interface failed with `code`.
    private func fail(multi code: CURLMcode) {
        multiFailure = code
        result = CURLE_FAILED_INIT
    }

    /// Ends the exchange as a timeout when its time is up: no byte arrived for
    /// low_speed_timeout, a stream's first event did not arrive within `timeout`, or the request
    /// waited for a connection for `timeout`. Returns true when it did (the engine then
    /// detaches it).
    @discardableResult
    func checkStall(now: Double) -> Bool {
        guard result == nil else { return false }
        if let timeout = settings.timeoutSeconds, !requestSent, handle.infoSeconds(CURLINFO_NAMELOOKUP_TIME_T) == 0,
           now - startTime >= timeout {
            timedOutInQueue = true
            result = CURLE_OPERATION_TIMEDOUT
            return true
        }
        if let deadline = firstEventDeadline, now >= deadline {
            timedOutBeforeFirstEvent = true
            result = CURLE_OPERATION_TIMEDOUT
            return true
        }
        guard let idle = idleDeadline, now >= idle else { return false }
        stalled = true
        result = CURLE_OPERATION_TIMEDOUT
        return true
    }

    /// Pauses (flow control: the body's next bytes wait in libcurl) or resumes the transfer;
    /// on resuming, low_speed_timeout counts from now. On the loop's thread.
    func setPaused(_ paused: Bool) {
        guard collector.isPaused != paused else { return }
        collector.isPaused = paused
        guard !paused else { return }
        collector.noteActivity()
        _ = curl_easy_pause(handle.easy, Int32(CURLPAUSE_CONT))
    }

    /// The engine read libcurl's end of this exchange. An error after the whole answer arrived
    /// early (see `answeredBeforeRequestEnded`) is the server ending the exchange, not a failure.
    func finish(with code: CURLcode) {
        guard result == nil else { return }
        result = code != CURLE_OK && answeredBeforeRequestEnded ? CURLE_OK : code
    }

    /// Ends the exchange with its answer when the whole answer arrived before the request was
    /// sent to its end (see `answeredBeforeRequestEnded`): libcurl would go on trying to send.
    /// Checked after a step in which bytes arrived. On the loop's thread.
    func takeEarlyAnswer() {
        guard result == nil, collector.receivedSinceCheck else { return }
        collector.receivedSinceCheck = false
        if answeredBeforeRequestEnded { result = CURLE_OK }
    }

    /// True when the server has sent its whole answer (a final head, then exactly the body
    /// length it announced) while part of the request body is still unsent. A server may answer
    /// so without reading the request (HTTP/2 allows it and then resets the stream, RFC 9113
    /// section 8.1; a gateway's 401, 413 or 429 does it). libcurl 7.88 then reports
    /// CURLE_HTTP2_STREAM, or keeps trying to send the body, spinning until the timeout.
    /// Never while the transfer is paused: libcurl may count bytes it still holds for us.
    private var answeredBeforeRequestEnded: Bool {
        guard collector.receivedHead, collector.failure == nil, !collector.isPaused else { return false }
        var expected: curl_off_t = -1
        var received: curl_off_t = 0
        var sent: curl_off_t = 0
        _ = hl_curl_easy_getinfo_off(handle.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected)
        _ = hl_curl_easy_getinfo_off(handle.easy, CURLINFO_SIZE_DOWNLOAD_T, &received)
        _ = hl_curl_easy_getinfo_off(handle.easy, CURLINFO_SIZE_UPLOAD_T, &sent)
        return expected >= 0 && received == expected && sent < curl_off_t(bodyLength)
    }

    /// When a stream's attempt ends for want of its first event (`timeout` after it started);
    /// nil once an event arrived, for a buffered answer (libcurl times those), or with no limit.
    private var firstEventDeadline: Double? {
        guard collector.mode == .eventStream, collector.decodedEventCount == 0, let timeout = settings.timeoutSeconds else { return nil }
        return startTime + timeout
    }

    /// When the attempt ends for lack of data (low_speed_timeout): low_speed_timeout after the
    /// last byte received, or after the request went out when nothing was received yet. Nil
    /// while the request has not been sent (connect_timeout covers that phase).
    private var idleDeadline: Double? {
        guard requestSent else { return nil }
        let sentAt = startTime + handle.infoSeconds(CURLINFO_PRETRANSFER_TIME_T)
        return max(collector.lastReceive, sentAt) + settings.lowSpeedSeconds
    }

    /// Seconds since the exchange started.
    var elapsed: Double { Clock.monotonic() - startTime }

    var timings: PhaseTimings {
        var timings = PhaseTimings()
        timings.nameLookup = handle.infoSeconds(CURLINFO_NAMELOOKUP_TIME_T)
        timings.connect = handle.infoSeconds(CURLINFO_CONNECT_TIME_T)
        timings.tlsHandshake = handle.infoSeconds(CURLINFO_APPCONNECT_TIME_T)
        timings.preTransfer = handle.infoSeconds(CURLINFO_PRETRANSFER_TIME_T)
        timings.startTransfer = handle.infoSeconds(CURLINFO_STARTTRANSFER_TIME_T)
        timings.total = handle.infoSeconds(CURLINFO_TOTAL_TIME_T)
        return timings
    }

    /// The outcome of a completed exchange.
    func outcome() -> TransferOutcome {
        let code = result ?? CURLE_OK
        if let failure = collector.failure { return .failure(failure, retryable: false) }
        if code == CURLE_OK {
            // libcurl reports a connection closed in the middle of the header block as a
            // success (it received some header bytes); there is no answer to use.
            guard collector.receivedHead else {
                return .failure(.connectionError("the server closed the connection in the middle of the response headers"),
                                retryable: true)
            }
            collector.finishStream()
            if let failure = collector.failure { return .failure(failure, retryable: false) }
            return .response(collector.head, body: collector.body)
        }
        return .failure(classify(code), retryable: Retryability.retries(code, of: self))
    }

    private func classify(_ code: CURLcode) -> CallError {
        if let multiFailure {
            return .connectionError("libcurl's multi interface failed: \(String(cString: curl_multi_strerror(multiFailure)))")
        }
        if let refusal = proxyRefusal { return .connectionError(refusal) }
        let detail = handle.errorDetail(code)
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            if timedOutInQueue {
                return .timeout("the request timed out after \(settings.timeoutText) s (timeout) waiting for a connection (max_connections): nothing was sent")
            }
            if timedOutBeforeFirstEvent {
                return .timeout("the request timed out after \(settings.timeoutText) s (timeout) before the stream's first event\(progressSuffix)")
            }
            if stalled {
                return .timeout("no data arrived for \(settings.lowSpeedText) s (low_speed_timeout)\(progressSuffix)")
            }
            if !requestSent {
                return .timeout("timed out connecting to the server after \(settings.connectTimeoutText) s")
            }
            return .timeout("the request timed out after \(settings.timeoutText) s (timeout)\(progressSuffix)")
        case CURLE_COULDNT_CONNECT where ranOutOfDescriptors:
            return .connectionError(DescriptorBudget.tooManyOpenFiles("no connection could be opened"))
        default:
            return .connectionError(connectionMessage(code, detail))
        }
    }

    /// When a proxy answered the CONNECT that opens a tunnel with a non-2xx status: what it said.
    private var proxyRefusal: String? {
        var connectCode = 0
        _ = hl_curl_easy_getinfo_long(handle.easy, CURLINFO_HTTP_CONNECTCODE, &connectCode)
        guard connectCode != 0, !(200...299).contains(connectCode) else { return nil }
        let proxy = settings.proxy.map { "the proxy \(Self.withoutCredentials($0))" } ?? "the proxy (from the environment)"
        let head = collector.head
        let answer = head.status == connectCode && !head.reason.isEmpty ? "\(connectCode) \(head.reason)" : "\(connectCode)"
        return "\(proxy) refused the tunnel to the server: it answered \(answer)"
    }

    /// A proxy URL without the user and password it may carry ("http://***@proxy:3128").
    static func withoutCredentials(_ url: String) -> String {
        let bytes = Array(url.utf8)
        var start = 0
        for index in 0..<max(0, bytes.count - 2) where bytes[index] == 0x3A && bytes[index + 1] == 0x2F && bytes[index + 2] == 0x2F {
            start = index + 3
            break
        }
        let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
        guard let at = bytes[start..<end].lastIndex(of: UInt8(ascii: "@")) else { return url }
        return String(decoding: bytes[..<start], as: UTF8.self) + "***" + String(decoding: bytes[at...], as: UTF8.self)
    }

    /// " while reading the body of the 200 answer (10 bytes received)" or " while waiting for an answer".
    private var progressSuffix: String {
        guard collector.receivedHead else { return " while waiting for an answer" }
        let received = collector.bodyBytesReceived
        return " while reading the body of the \(collector.status) answer (\(received) byte\(received == 1 ? "" : "s") received)"
    }

    /// True once the request was written to a connection.
    var requestSent: Bool {
        var size = 0
        _ = hl_curl_easy_getinfo_long(handle.easy, CURLINFO_REQUEST_SIZE, &size)
        return size > 0
    }

    /// True when libcurl's error is about the chunked framing sent by the server.
    func isChunkedEncodingError(_ code: CURLcode, _ detail: String) -> Bool {
        // libcurl 7.x: "... in chunked-encoding"; 8.x: "chunk hex-length char not a hex digit ..."
        code == CURLE_RECV_ERROR && detail.lowercased().contains("chunk")
    }

    private func connectionMessage(_ code: CURLcode, _ detail: String) -> String {
        guard collector.receivedHead else {
            switch code {
            case CURLE_COULDNT_CONNECT:
                return "could not connect to the server: \(detail)"
            case CURLE_GOT_NOTHING:
                return "the server closed the connection without answering"
            case CURLE_SEND_ERROR:
                return "the connection broke while sending the request: \(detail)"
            case CURLE_RECV_ERROR:
                return "the connection broke before an answer arrived: \(detail)"
            default:
                return "could not get an answer from the server: \(detail)"
            }
        }
        let status = collector.status
        let received = collector.bodyBytesReceived
        if isChunkedEncodingError(code, detail) {
            return "the \(status) answer's chunked encoding is malformed after \(received) body byte\(received == 1 ? "" : "s"): \(detail)"
        }
        if code == CURLE_PARTIAL_FILE {
            if let expected = collector.contentLength, !collector.isChunked {
                return "the connection closed after \(received) of \(expected) body bytes of the \(status) answer"
            }
            return "the connection closed after \(received) body byte\(received == 1 ? "" : "s") of the \(status) answer, before its chunked body ended"
        }
        return "the connection broke after \(received) body byte\(received == 1 ? "" : "s") of the \(status) answer: \(detail)"
    }

    /// Detaches the handle from its multi handle (closing an unfinished connection).
    private func detach() {
        if attached {
            curl_multi_remove_handle(multi, handle.easy)
            attached = false
        }
        _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_HEADERDATA, nil)
        _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_WRITEDATA, nil)
        _ = hl_curl_easy_setopt_pointer(handle.easy, CURLOPT_POSTFIELDS, nil)
    }

    /// Ends the exchange and hands over its handle (nil when already released).
    func releaseHandle() -> CurlHandle? {
        guard ownsHandle else { return nil }
        detach()
        ownsHandle = false
        return handle
    }

    /// After a stream's `[DONE]`: the rest of the body is read and dropped (at most
    /// `maximumBytes`), so that the connection can be reused once the body ends.
    func drainRest(maximumBytes: Int) {
        collector.discardRest(maximumBytes: maximumBytes)
    }
}

private func headerCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return collector.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private func writeCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let context else { return 0 }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard let data, length > 0 else { return length }
    // Flow control: libcurl keeps these bytes and hands them again once the transfer resumes.
    if collector.isPaused { return HL_CURL_WRITEFUNC_PAUSE }
    return collector.receiveBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}
