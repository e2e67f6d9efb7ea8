import CABI
import Foundation

/// One call started with `hl_call_start`: the bridge between the engine thread's callback and
/// a Swift continuation (a call's result) or an `AsyncThrowingStream` (a stream's events).
///
/// Lifetime: the callback's `user_data` holds a retain that the terminal item gives back; the
/// awaiting task (or the stream's `onTermination`) holds another. The `hl_call` handle is freed
/// in `deinit`, so `hl_call_cancel` is never called on a freed handle. The client's handle is
/// kept until then, so the call is never cut short by its client going away.
final class PendingCall: @unchecked Sendable {
    typealias EventContinuation = AsyncThrowingStream<CompletionStreamEvent, any Error>.Continuation

    private let lock = NSLock()
    private var handle: OpaquePointer?
    private var cancelRequested = false
    private var result: CheckedContinuation<[UInt8], Never>?
    private let events: EventContinuation?
    private let client: ClientHandle

    /// A call whose terminal item resumes a continuation (set by `start(_:...)`).
    init(client: ClientHandle) {
        self.client = client
        self.events = nil
    }

    /// A stream call whose items go to `events`.
    init(client: ClientHandle, events: EventContinuation) {
        self.client = client
        self.events = events
    }

    /// Whether `cancel()` was called (the task was cancelled or the stream's consumer left).
    var wasCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelRequested
    }

    /// Starts the call; its terminal item resumes `continuation` with the envelope's bytes.
    func start(_ continuation: CheckedContinuation<[UInt8], Never>, name: CallName, request: [UInt8], options: [UInt8]?) {
        lock.lock()
        result = continuation
        lock.unlock()
        start(name: name, request: request, options: options)
    }

    /// Starts the call on the client's engine.
    func start(name: CallName, request: [UInt8], options: [UInt8]?) {
        lock.lock()
        let cancelledBefore = cancelRequested
        lock.unlock()
        if cancelledBefore {
            deliverTerminal(Array(#"{"ok":false,"error":{"type":"cancelled","message":"the call was cancelled before it started"},"attempts":0}"#.utf8))
            return
        }
        let user = Unmanaged.passRetained(self).toOpaque()
        let started: OpaquePointer? = withCString(request) { requestText in
            withOptionalCString(options) { optionsText in
                hl_call_start(client.pointer, name.rawValue, requestText, optionsText, pendingCallCallback, user)
            }
        }
        guard let started else {
            Unmanaged<PendingCall>.fromOpaque(user).release()
            deliverTerminal(Array(#"{"ok":false,"error":{"type":"connection_error","message":"the call could not be started (out of memory)"},"attempts":0}"#.utf8))
            return
        }
        lock.lock()
        handle = started
        let cancelNow = cancelRequested
        lock.unlock()
        if cancelNow { hl_call_cancel(started) }
    }

    /// Cancels the call (`hl_call_cancel`): its connection is closed within 100 ms and its
    /// terminal item says "cancelled". Any thread, any time, idempotent.
    func cancel() {
        lock.lock()
        cancelRequested = true
        let started = handle
        lock.unlock()
        if let started { hl_call_cancel(started) }
    }

    /// A stream event item (engine thread).
    fileprivate func deliverEvent(_ bytes: UnsafeRawBufferPointer) {
        guard let events else { return }
        switch Envelope<CompletionStreamEvent>.decode(Array(bytes)) {
        case .success(let item):
            if let event = item.event { events.yield(event) }
        case .failure(let error):
            events.finish(throwing: error)
            cancel()
        }
    }

    /// The terminal item (engine thread, or the starting thread when the call never started).
    fileprivate func deliverTerminal(_ bytes: [UInt8]) {
        if let events {
            switch Envelope<JSONValue>.decode(bytes) {
            case .success(let item) where item.ok:
                events.finish()
            case .success(let item):
                let error = item.error?.error(attempts: item.attempts ?? 0)
                    ?? .other(type: "unknown", message: "a failure without an error", attempts: item.attempts ?? 0)
                if case .cancelled = error, wasCancelled {
                    events.finish(throwing: CancellationError())
                } else {
                    events.finish(throwing: error)
                }
            case .failure(let error):
                events.finish(throwing: error)
            }
            return
        }
        lock.lock()
        let continuation = result
        result = nil
        lock.unlock()
        continuation?.resume(returning: bytes)
    }

    deinit {
        if let handle { hl_call_free(handle) }
    }
}

/// The `hl_callback` of every call of the Swift API (runs on the client's engine thread).
private let pendingCallCallback: CallCallback = { _, kind, json, length, user in
    guard let user else { return }
    let unmanaged = Unmanaged<PendingCall>.fromOpaque(user)
    let call = unmanaged.takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: json.map { UnsafeRawPointer($0) }, count: json == nil ? 0 : length)
    if kind == 2 {  // HL_ITEM_RESULT: the last item of the call
        call.deliverTerminal(Array(bytes))
        unmanaged.release()
    } else {
        call.deliverEvent(bytes)
    }
}

/// Runs `body` with `bytes` as a NUL-terminated C string.
private func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
    var text = bytes.map { CChar(bitPattern: $0) }
    text.append(0)
    return body(text)
}

/// Runs `body` with `bytes` as a C string, or NULL.
private func withOptionalCString<R>(_ bytes: [UInt8]?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return withCString(bytes) { body($0) }
}
