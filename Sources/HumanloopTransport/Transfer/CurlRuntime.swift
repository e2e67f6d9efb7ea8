#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl

/// libcurl's process-wide initialisation, done once on first use.
enum CurlRuntime {
    /// True when `curl_global_init` succeeded.
    static let isInitialized: Bool = ForkGate.shared.inside { curl_global_init(HL_CURL_GLOBAL_DEFAULT) } == CURLE_OK
}
