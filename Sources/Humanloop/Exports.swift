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
        errorOut?.pointee = CStrings.copy(JSONSerializer.bytes(of: Envelope.failure(error, attempts: 0)))
        return nil
    }
}

@_cdecl("hl_client_free")
public func hl_client_free(_ client: OpaquePointer?) {
    guard let client else { return }
    Unmanaged<HumanloopClient>.fromOpaque(UnsafeRawPointer(client)).release()
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

@_cdecl("hl_set_log_callback")
public func hl_set_log_callback(_ callback: LogCallback?, _ userData: UnsafeMutableRawPointer?, _ level: Int32) {
    let clamped = LogLevel(rawValue: min(max(level, LogLevel.off.rawValue), LogLevel.debug.rawValue)) ?? .off
    LogSink.shared.set(callback: callback, userData: userData, level: clamped)
}

@_cdecl("hl_free")
public func hl_free(_ json: UnsafeMutablePointer<CChar>?) {
    free(json)
}
