// The C ABI of libhumanloop: @_cdecl exports only. See include/humanloop.h for the contract.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore
import HumanloopTransport

@_cdecl("hl_version")
public func hl_version() -> UnsafePointer<CChar>? {
    UnsafeRawPointer(libraryVersionLiteral.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("hl_version_num")
public func hl_version_num() -> Int32 {
    libraryVersionNumber
}

@_cdecl("hl_client_new")
public func hl_client_new(_ config: UnsafePointer<CChar>?,
                          _ errorOut: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> OpaquePointer? {
    errorOut?.pointee = nil
    switch makeClient(configJSON: CStrings.bytes(config)) {
    case .success(let client):
        return OpaquePointer(Unmanaged.passRetained(client).toOpaque())
    case .failure(let error):
        errorOut?.pointee = CStrings.copy(EnvelopeEncoder.failure(error))
        return nil
    }
}

@_cdecl("hl_client_free")
public func hl_client_free(_ client: OpaquePointer?) {
    guard let client else { return }
    let unmanaged = Unmanaged<TransportClient>.fromOpaque(UnsafeRawPointer(client))
    unmanaged.takeUnretainedValue().shutDown()
    unmanaged.release()
}

@_cdecl("hl_client_info")
public func hl_client_info(_ client: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    guard case .success(let resolved) = resolveClient(client) else { return nil }
    return CStrings.copy(JSONSerializer.bytes(of: resolved.info))
}

@_cdecl("hl_complete")
public func hl_complete(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    complete(client, request, .completion)
}

@_cdecl("hl_complete_deployed")
public func hl_complete_deployed(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    complete(client, request, .deployed)
}

@_cdecl("hl_complete_experiment")
public func hl_complete_experiment(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    complete(client, request, .experiment)
}

@_cdecl("hl_complete_model_configuration")
public func hl_complete_model_configuration(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    complete(client, request, .modelConfiguration)
}

@_cdecl("hl_complete_stream")
public func hl_complete_stream(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> OpaquePointer? {
    openStream(client, request, .completion)
}

@_cdecl("hl_complete_deployed_stream")
public func hl_complete_deployed_stream(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> OpaquePointer? {
    openStream(client, request, .deployed)
}

@_cdecl("hl_complete_experiment_stream")
public func hl_complete_experiment_stream(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> OpaquePointer? {
    openStream(client, request, .experiment)
}

@_cdecl("hl_complete_model_configuration_stream")
public func hl_complete_model_configuration_stream(_ client: OpaquePointer?, _ request: UnsafePointer<CChar>?) -> OpaquePointer? {
    openStream(client, request, .modelConfiguration)
}

@_cdecl("hl_stream_next")
public func hl_stream_next(_ stream: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    guard let stream else { return nil }
    let box = Unmanaged<StreamBox>.fromOpaque(UnsafeRawPointer(stream)).takeUnretainedValue()
    guard let envelope = box.next() else { return nil }
    return CStrings.copy(envelope)
}

@_cdecl("hl_stream_free")
public func hl_stream_free(_ stream: OpaquePointer?) {
    guard let stream else { return }
    Unmanaged<StreamBox>.fromOpaque(UnsafeRawPointer(stream)).release()
}

@_cdecl("hl_stream_cancel")
public func hl_stream_cancel(_ stream: OpaquePointer?) {
    guard let stream else { return }
    Unmanaged<StreamBox>.fromOpaque(UnsafeRawPointer(stream)).takeUnretainedValue().stream?.cancel()
}

@_cdecl("hl_call_start")
public func hl_call_start(_ client: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ request: UnsafePointer<CChar>?,
                          _ options: UnsafePointer<CChar>?, _ callback: CallCallback?, _ userData: UnsafeMutableRawPointer?) -> OpaquePointer? {
    guard let callback else { return nil }
    return startCall(client, name: name.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) },
                     request: request, options: options, callback: callback, userData: userData)
}

@_cdecl("hl_call_cancel")
public func hl_call_cancel(_ call: OpaquePointer?) {
    guard let call else { return }
    let box = Unmanaged<CallBox>.fromOpaque(UnsafeRawPointer(call)).takeUnretainedValue()
    box.call?.cancel()
    box.batch?.cancel()
}

@_cdecl("hl_call_free")
public func hl_call_free(_ call: OpaquePointer?) {
    guard let call else { return }
    let box = Unmanaged<CallBox>.fromOpaque(UnsafeRawPointer(call))
    box.takeUnretainedValue().call?.release()
    box.takeUnretainedValue().batch?.release()
    box.release()
}

@_cdecl("hl_call_pause")
public func hl_call_pause(_ call: OpaquePointer?, _ paused: Int32) {
    guard let call else { return }
    Unmanaged<CallBox>.fromOpaque(UnsafeRawPointer(call)).takeUnretainedValue().call?.pause(paused != 0)
}

@_cdecl("hl_loop_new")
public func hl_loop_new(_ client: OpaquePointer?, _ options: UnsafePointer<CChar>?) -> OpaquePointer? {
    // No option is defined yet: only {} (or NULL) is accepted.
    if let options {
        guard case .object(let object)? = try? JSONReader.parse(CStrings.bytes(options) ?? []), object.members.isEmpty else { return nil }
    }
    guard case .success(let resolved) = resolveClient(client), let loop = resolved.makeLoop() else { return nil }
    return OpaquePointer(Unmanaged.passRetained(LoopBox(client: resolved, loop: loop)).toOpaque())
}

@_cdecl("hl_loop_fd")
public func hl_loop_fd(_ loop: OpaquePointer?) -> Int32 {
    guard let loop else { return -1 }
    return Unmanaged<LoopBox>.fromOpaque(UnsafeRawPointer(loop)).takeUnretainedValue().loop.fd
}

@_cdecl("hl_loop_submit")
public func hl_loop_submit(_ loop: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ request: UnsafePointer<CChar>?,
                           _ options: UnsafePointer<CChar>?, _ tag: UnsafeMutableRawPointer?) -> OpaquePointer? {
    guard let loop else { return nil }
    let box = Unmanaged<LoopBox>.fromOpaque(UnsafeRawPointer(loop)).takeUnretainedValue()
    return submitCall(box, name: name.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) },
                      request: request, options: options, tag: tag)
}

@_cdecl("hl_loop_run")
public func hl_loop_run(_ loop: OpaquePointer?, _ timeoutMilliseconds: Int32, _ items: UnsafeMutableRawPointer?, _ max: UInt) -> UInt {
    guard let loop else { return 0 }
    let box = Unmanaged<LoopBox>.fromOpaque(UnsafeRawPointer(loop)).takeUnretainedValue()
    // size_t: SIZE_MAX ("as many as there are") must not read as -1.
    return UInt(box.run(timeoutMilliseconds: timeoutMilliseconds, into: items?.assumingMemoryBound(to: CItem.self),
                        max: Int(clamping: max)))
}

@_cdecl("hl_loop_wake")
public func hl_loop_wake(_ loop: OpaquePointer?) {
    guard let loop else { return }
    Unmanaged<LoopBox>.fromOpaque(UnsafeRawPointer(loop)).takeUnretainedValue().loop.wake()
}

@_cdecl("hl_loop_free")
public func hl_loop_free(_ loop: OpaquePointer?) {
    guard let loop else { return }
    let box = Unmanaged<LoopBox>.fromOpaque(UnsafeRawPointer(loop))
    box.takeUnretainedValue().close()
    box.release()
}

@_cdecl("hl_queue_new")
public func hl_queue_new(_ options: UnsafePointer<CChar>?) -> OpaquePointer? {
    var maxPendingBytes = ItemQueue.defaultMaxPendingBytes
    if let options {
        guard case .object(let object)? = try? JSONReader.parse(CStrings.bytes(options) ?? []),
              object.keys.allSatisfy({ $0 == "max_pending_bytes" }) else { return nil }
        if let value = object["max_pending_bytes"] {
            guard case .number(let number) = value, let bytes = number.intValue, bytes >= 1 else { return nil }
            maxPendingBytes = bytes
        }
    }
    guard let queue = ItemQueue(maxPendingBytes: maxPendingBytes) else { return nil }
    return OpaquePointer(Unmanaged.passRetained(QueueBox(queue: queue)).toOpaque())
}

@_cdecl("hl_queue_fd")
public func hl_queue_fd(_ queue: OpaquePointer?) -> Int32 {
    guard let queue else { return -1 }
    return Unmanaged<QueueBox>.fromOpaque(UnsafeRawPointer(queue)).takeUnretainedValue().queue.fd
}

@_cdecl("hl_call_submit")
public func hl_call_submit(_ client: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ request: UnsafePointer<CChar>?,
                           _ options: UnsafePointer<CChar>?, _ queue: OpaquePointer?, _ tag: UnsafeMutableRawPointer?) -> OpaquePointer? {
    guard let queue else { return nil }
    let box = Unmanaged<QueueBox>.fromOpaque(UnsafeRawPointer(queue)).takeUnretainedValue()
    return submitCall(client, name: name.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) },
                      request: request, options: options, queue: box.queue, tag: tag)
}

@_cdecl("hl_batch_submit")
public func hl_batch_submit(_ client: OpaquePointer?, _ batch: UnsafePointer<CChar>?, _ queue: OpaquePointer?,
                            _ tag: UnsafeMutableRawPointer?) -> OpaquePointer? {
    guard let queue else { return nil }
    let box = Unmanaged<QueueBox>.fromOpaque(UnsafeRawPointer(queue)).takeUnretainedValue()
    return submitBatch(client, batch: batch, queue: box.queue, tag: tag)
}

@_cdecl("hl_queue_drain")
public func hl_queue_drain(_ queue: OpaquePointer?, _ items: UnsafeMutableRawPointer?, _ max: UInt) -> UInt {
    guard let queue else { return 0 }
    let box = Unmanaged<QueueBox>.fromOpaque(UnsafeRawPointer(queue)).takeUnretainedValue()
    return UInt(box.drain(into: items?.assumingMemoryBound(to: CItem.self), max: Int(clamping: max)))
}

@_cdecl("hl_queue_wait")
public func hl_queue_wait(_ queue: OpaquePointer?, _ timeoutMilliseconds: Int32) -> Int32 {
    guard let queue else { return 0 }
    return Unmanaged<QueueBox>.fromOpaque(UnsafeRawPointer(queue)).takeUnretainedValue().queue.wait(timeoutMilliseconds: timeoutMilliseconds) ? 1 : 0
}

@_cdecl("hl_queue_wake")
public func hl_queue_wake(_ queue: OpaquePointer?) {
    guard let queue else { return }
    Unmanaged<QueueBox>.fromOpaque(UnsafeRawPointer(queue)).takeUnretainedValue().queue.wake()
}

@_cdecl("hl_queue_free")
public func hl_queue_free(_ queue: OpaquePointer?) {
    guard let queue else { return }
    let box = Unmanaged<QueueBox>.fromOpaque(UnsafeRawPointer(queue))
    box.takeUnretainedValue().queue.close()
    box.release()
}

@_cdecl("hl_call_run")
public func hl_call_run(_ client: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ request: UnsafePointer<CChar>?,
                        _ options: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    let callName = name.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) } ?? "(NULL)"
    switch resolveClient(client) {
    case .success(let resolved):
        return CStrings.copy(EnvelopeEncoder.encode(resolved.run(name == nil ? nil : Endpoint(callName: callName), callName: callName,
                                                                 requestJSON: CStrings.bytes(request), optionsJSON: CStrings.bytes(options))))
    case .failure(let error):
        return CStrings.copy(EnvelopeEncoder.failure(error))
    }
}

@_cdecl("hl_batch")
public func hl_batch(_ client: OpaquePointer?, _ batch: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    switch resolveClient(client) {
    case .success(let resolved):
        switch resolved.runBatch(json: CStrings.bytes(batch)) {
        case .success(let results):
            return CStrings.copy(EnvelopeEncoder.batchResults(results))
        case .failure(let error):
            return CStrings.copy(EnvelopeEncoder.failure(error, secrets: resolved.secrets))
        }
    case .failure(let error):
        return CStrings.copy(EnvelopeEncoder.failure(error))
    }
}

@_cdecl("hl_set_log_callback")
public func hl_set_log_callback(_ callback: LogCallback?, _ userData: UnsafeMutableRawPointer?, _ level: Int32) {
    let clamped = LogLevel(rawValue: min(max(level, LogLevel.off.rawValue), LogLevel.debug.rawValue)) ?? .off
    LogSink.shared.set(callback: callback, userData: userData, level: clamped)
}

@_cdecl("hl_free")
public func hl_free(_ json: UnsafeMutablePointer<CChar>?) {
    free(json)
}
