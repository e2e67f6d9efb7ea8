import HumanloopCore
import HumanloopTransport

/// The version of this library, as a NUL-terminated static string (hl_version returns it).
let libraryVersionLiteral: StaticString = "0.2.0"

/// The version of this library.
let libraryVersion = libraryVersionLiteral.description

/// The version as 0xMMmmpp (hl_version_num returns it; HL_VERSION_NUM in the header).
let libraryVersionNumber: Int32 = 0x00_02_00

/// Builds a client from config JSON and the environment.
func makeClient(configJSON: [UInt8]?) -> Result<TransportClient, CallError> {
    do {
        let configuration = try ClientConfiguration(json: configJSON, version: libraryVersion,
                                                    environment: CStrings.environment)
        return .success(TransportClient(configuration: configuration))
    } catch {
        return .failure(error)
    }
}

/// The client behind a C handle, or the default client for NULL.
func resolveClient(_ handle: OpaquePointer?) -> Result<TransportClient, CallError> {
    guard let handle else { return DefaultClient.shared.resolve() }
    return .success(Unmanaged<TransportClient>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue())
}

/// Submits a call to a host's loop for the C ABI (hl_loop_submit); returns the retained box as
/// the hl_call handle. Its items (validation failures included) come out of hl_loop_run.
func submitCall(_ box: LoopBox, name: String?, request: UnsafePointer<CChar>?, options: UnsafePointer<CChar>?,
                tag: UnsafeMutableRawPointer?) -> OpaquePointer {
    let callBox = CallBox()
    let pointer = OpaquePointer(Unmanaged.passRetained(callBox).toOpaque())
    let tagAddress = UInt(bitPattern: tag)
    let sink: ItemSink = { [weak box, weak callBox] item, terminal in
        box?.pending.append(LoopBox.Pending(call: pointer, asyncCall: callBox?.call, tag: UnsafeMutableRawPointer(bitPattern: tagAddress),
                                            isTerminal: terminal, json: EnvelopeEncoder.encode(item)))
    }
    let callName = name ?? "(NULL)"
    callBox.call = box.client.makeCall(name.flatMap(Endpoint.init(callName:)), callName: callName, requestJSON: CStrings.bytes(request),
                                       optionsJSON: CStrings.bytes(options), on: box.loop, sink: sink)
    callBox.call?.start()
    return pointer
}

/// Submits a call to the client's engine whose items go to `queue` (hl_call_submit); returns
/// the retained box as the hl_call handle.
func submitCall(_ handle: OpaquePointer?, name: String?, request: UnsafePointer<CChar>?, options: UnsafePointer<CChar>?,
                queue: ItemQueue, tag: UnsafeMutableRawPointer?) -> OpaquePointer {
    let callBox = CallBox()
    let pointer = OpaquePointer(Unmanaged.passRetained(callBox).toOpaque())
    let tagAddress = UInt(bitPattern: tag)
    let sink: ItemSink = { [weak callBox] item, terminal in
        queue.push(ItemQueue.Item(call: pointer, tag: UnsafeMutableRawPointer(bitPattern: tagAddress), producer: callBox?.call,
                                  isTerminal: terminal, json: EnvelopeEncoder.encode(item)))
    }
    let callName = name ?? "(NULL)"
    switch resolveClient(handle) {
    case .success(let client):
        callBox.call = client.makeCall(name.flatMap(Endpoint.init(callName:)), callName: callName, requestJSON: CStrings.bytes(request),
                                       optionsJSON: CStrings.bytes(options), sink: sink)
    case .failure(let error):
        callBox.call = TransportClient.makeFailedCall(error, sink: sink)
    }
    if let call = callBox.call { queue.register(call) }
    callBox.call?.start()
    return pointer
}

/// Submits a batch whose items go to `queue` (hl_batch_submit); returns the retained box as the
/// batch's hl_call handle. A malformed batch (or client) is the handle's one HL_ITEM_RESULT.
func submitBatch(_ handle: OpaquePointer?, batch json: UnsafePointer<CChar>?, queue: ItemQueue,
                 tag: UnsafeMutableRawPointer?) -> OpaquePointer {
    let callBox = CallBox()
    let pointer = OpaquePointer(Unmanaged.passRetained(callBox).toOpaque())
    let tagAddress = UInt(bitPattern: tag)
    let push = { [weak callBox] (json: [UInt8], terminal: Bool) in
        queue.push(ItemQueue.Item(call: pointer, tag: UnsafeMutableRawPointer(bitPattern: tagAddress),
                                  producer: callBox?.batch ?? callBox?.call, isTerminal: terminal, json: json))
    }
    let failure: CallError
    switch resolveClient(handle).flatMap({ client in client.readBatch(json: CStrings.bytes(json)).map { (client, $0) } }) {
    case .success(let (client, batch)):
        let run = BatchRun(client: client, batch: batch) { report in
            switch report {
            case .result(let index, let result):
                push(EnvelopeEncoder.batchItem(index: index, result: result), false)
            case .finished(let summary):
                push(EnvelopeEncoder.batchSummary(summary), true)
            }
        }
        callBox.batch = run
        queue.register(run)
        run.start()
        return pointer
    case .failure(let error):
        failure = error
    }
    callBox.call = TransportClient.makeFailedCall(failure) { result, terminal in push(EnvelopeEncoder.encode(result), terminal) }
    callBox.call?.start()
    return pointer
}

/// Starts an asynchronous call for the C ABI; returns the retained box as the hl_call handle.
func startCall(_ handle: OpaquePointer?, name: String?, request: UnsafePointer<CChar>?, options: UnsafePointer<CChar>?,
               callback: @escaping CallCallback, userData: UnsafeMutableRawPointer?) -> OpaquePointer {
    let box = CallBox()
    let pointer = OpaquePointer(Unmanaged.passRetained(box).toOpaque())
    let userAddress = UInt(bitPattern: userData)
    let sink: ItemSink = { result, terminal in
        let envelope = EnvelopeEncoder.encode(result)
        var text = envelope
        text.append(0)
        text.withUnsafeBufferPointer { bytes in
            bytes.baseAddress?.withMemoryRebound(to: CChar.self, capacity: bytes.count) { json in
                callback(pointer, terminal ? CItem.result : CItem.event, json, envelope.count, UnsafeMutableRawPointer(bitPattern: userAddress))
            }
        }
    }
    let callName = name ?? "(NULL)"
    switch resolveClient(handle) {
    case .success(let client):
        box.call = client.makeCall(name.flatMap(Endpoint.init(callName:)), callName: callName, requestJSON: CStrings.bytes(request),
                                   optionsJSON: CStrings.bytes(options), sink: sink)
    case .failure(let error):
        box.call = TransportClient.makeFailedCall(error, sink: sink)
    }
    // Started once the handle knows its call: the callback may cancel or free it at once.
    box.call?.start()
    return pointer
}

/// Runs one blocking call for the C ABI.
func complete(_ handle: OpaquePointer?, _ request: UnsafePointer<CChar>?, _ endpoint: Endpoint) -> UnsafeMutablePointer<CChar>? {
    switch resolveClient(handle) {
    case .success(let client):
        return CStrings.copy(EnvelopeEncoder.encode(client.complete(endpoint, requestJSON: CStrings.bytes(request))))
    case .failure(let error):
        return CStrings.copy(EnvelopeEncoder.failure(error))
    }
}

/// Opens one stream for the C ABI.
func openStream(_ handle: OpaquePointer?, _ request: UnsafePointer<CChar>?, _ endpoint: Endpoint) -> OpaquePointer? {
    let box: StreamBox
    switch resolveClient(handle) {
    case .success(let client):
        box = StreamBox(stream: client.openStream(endpoint, requestJSON: CStrings.bytes(request)))
    case .failure(let error):
        box = StreamBox(failure: error)
    }
    return OpaquePointer(Unmanaged.passRetained(box).toOpaque())
}
