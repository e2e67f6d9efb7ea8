import CCurl

/// libcurl's process-wide initialisation, done once on first use.
enum CurlRuntime {
    /// True when `curl_global_init` succeeded.
    static let isInitialized: Bool = curl_global_init(HL_CURL_GLOBAL_DEFAULT) == CURLE_OK
}

/// One libcurl easy handle with its own multi handle (which holds its connection cache).
///
/// A handle is used by one transfer at a time; `HandlePool` hands it out exclusively.
final class CurlHandle: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    let multi: UnsafeMutableRawPointer
    /// libcurl writes the detail of the last error here.
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard CurlRuntime.isInitialized, let easy = curl_easy_init() else { return nil }
        guard let multi = curl_multi_init() else {
            curl_easy_cleanup(easy)
            return nil
        }
        self.easy = easy
        self.multi = multi
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        _ = hl_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
    }

    deinit {
        curl_multi_cleanup(multi)
        curl_easy_cleanup(easy)
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

    func clearError() { errorBuffer[0] = 0 }

    func infoSeconds(_ info: CURLINFO) -> Double {
        var microseconds: curl_off_t = 0
        _ = hl_curl_easy_getinfo_off(easy, info, &microseconds)
        return Double(microseconds) / 1e6
    }
}

/// Idle handles kept for reuse, so calls reuse their connections (HTTP keep-alive).
final class HandlePool: @unchecked Sendable {
    private let lock = Lock()
    private var idle: [CurlHandle] = []  // guarded by lock
    private let maximumIdle = 64

    /// An idle handle, or a new one (nil only if libcurl cannot allocate one).
    func checkOut() -> CurlHandle? {
        lock.withLock { idle.popLast() } ?? CurlHandle()
    }

    /// Returns a handle whose transfer has ended.
    func checkIn(_ handle: CurlHandle) {
        lock.withLock {
            if idle.count < maximumIdle { idle.append(handle) }
        }
    }
}
