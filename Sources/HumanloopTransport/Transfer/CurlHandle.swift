#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl

/// One libcurl easy handle, of one loop (whose multi handle holds the connections).
///
/// A handle is used by one transfer at a time. Its sockets are registered with `ForkGuard`, and
/// it is stamped with the process that made it.
final class CurlHandle: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    /// The process that made the handle: its connections belong to that process only.
    let process = Process.current
    /// True once the client's fixed options are set on `easy` (see `Transfer`).
    var hasClientOptions = false
    /// The client's share handle `easy` uses (released after `easy` is cleaned up).
    var share: CurlShare?
    /// libcurl writes the detail of the last error here.
    let errorBuffer: UnsafeMutablePointer<CChar>
    /// The errno of the last socket this handle could not open (0: none since `clearError`):
    /// libcurl reports every such failure as "could not connect".
    fileprivate(set) var socketErrno: Int32 = 0

    init?() {
        guard CurlRuntime.isInitialized, let easy = ForkGate.shared.inside({ curl_easy_init() }) else { return nil }
        self.easy = easy
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        _ = hl_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = hl_curl_easy_setopt_sockopt_callback(easy, socketOpened)
        _ = hl_curl_easy_setopt_closesocket_callback(easy, closeSocket)
        // Unretained: the easy handle (which calls back) never outlives this object.
        _ = hl_curl_easy_setopt_opensocket_callback(easy, openSocket, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        ForkGate.shared.inside { curl_easy_cleanup(easy) }
        errorBuffer.deallocate()
    }

    @discardableResult func set(_ option: CURLoption, _ value: Int) -> CURLcode {
        hl_curl_easy_setopt_long(easy, option, value)
    }

    @discardableResult func set(_ option: CURLoption, _ value: String) -> CURLcode {
        hl_curl_easy_setopt_string(easy, option, value)
    }

    /// The detail libcurl wrote for the last error, or its generic text for `code`.
    func errorDetail(_ code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    func clearError() {
        errorBuffer[0] = 0
        socketErrno = 0
    }

    func infoSeconds(_ info: CURLINFO) -> Double {
        var microseconds: curl_off_t = 0
        _ = hl_curl_easy_getinfo_off(easy, info, &microseconds)
        return Double(microseconds) / 1e6
    }
}

/// libcurl needs a socket for one of our connections: opened here (close-on-exec) so that a
/// failure's errno is known (EMFILE: the process ran out of descriptors).
private func openSocket(_ context: UnsafeMutableRawPointer?, _ purpose: curlsocktype,
                        _ address: UnsafeMutablePointer<curl_sockaddr>?) -> curl_socket_t {
    guard let address else { return CURL_SOCKET_BAD }
    let descriptor = socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
    guard descriptor >= 0 else {
        if let context { Unmanaged<CurlHandle>.fromOpaque(context).takeUnretainedValue().socketErrno = errno }
        return CURL_SOCKET_BAD
    }
    _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
    return descriptor
}

/// libcurl opened a socket for one of our connections.
private func socketOpened(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t, _ purpose: curlsocktype) -> Int32 {
    ForkGuard.shared.opened(socket: socket)
    return Int32(CURL_SOCKOPT_OK)
}

/// libcurl closes one of our sockets (it leaves the closing to us once this callback is set).
private func closeSocket(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t) -> Int32 {
    ForkGuard.shared.closing(socket: socket)
    return close(socket)
}
