import CABI
import Foundation

/// Owns one `hl_client` of the C ABI. Every call keeps its client's handle alive until the
/// call's terminal item, so a client dropped by its user still finishes its calls.
final class ClientHandle: @unchecked Sendable {
    /// The `hl_client *` (immutable; the C client is thread-safe).
    let pointer: OpaquePointer

    init(pointer: OpaquePointer) { self.pointer = pointer }

    /// Makes a client from a configuration JSON (`hl_client_new`).
    static func make(configuration: [UInt8]?) throws -> ClientHandle {
        var errorText: UnsafeMutablePointer<CChar>?
        let made: OpaquePointer?
        if var configuration {
            configuration.append(0)
            made = configuration.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { hl_client_new($0.baseAddress, &errorText) }
            }
        } else {
            made = hl_client_new(nil, &errorText)
        }
        if let made { return ClientHandle(pointer: made) }
        defer { hl_free(errorText) }
        let bytes = errorText.map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) } ?? []
        switch Envelope<JSONValue>.decode(bytes) {
        case .success(let envelope):
            throw envelope.error?.error(attempts: 0) ?? HumanloopError.invalidConfig(
                message: "the client could not be made", path: nil, errors: [])
        case .failure(let error):
            throw error
        }
    }

    /// Frees the C client on a thread of its own: `hl_client_free` waits for the client's engine,
    /// and the last reference may be dropped on that engine's thread (by a call's callback) or on
    /// a cooperative thread, where nothing may block.
    deinit {
        let address = UInt(bitPattern: Int(bitPattern: UnsafeMutableRawPointer(pointer)))
        Thread.detachNewThread {
            hl_client_free(OpaquePointer(bitPattern: address))
        }
    }
}
