import CCurl

/// A client's libcurl share handle: the DNS cache and the TLS sessions of all its loops (the
/// engine, the blocking calls' loops, the host's loops), so that a new loop neither resolves
/// the host again nor makes a full TLS handshake. Connections are not shared (libcurl does not
/// share a connection cache between multi handles run on different threads).
///
/// Every easy handle that uses it holds it (`CurlHandle.share`), so it is freed after the last
/// of them.
final class CurlShare: @unchecked Sendable {
    /// nil when out of memory: handles then keep their own caches.
    let pointer: UnsafeMutablePointer<hl_share>?

    init() {
        pointer = ForkGate.shared.inside { hl_share_new() }
    }

    deinit {
        ForkGate.shared.inside { hl_share_free(pointer) }
    }
}
