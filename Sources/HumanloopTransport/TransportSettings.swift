import CCurl
import HumanloopCore

/// A libcurl header list, freed with its owner.
final class HeaderList: @unchecked Sendable {
    let list: UnsafeMutablePointer<curl_slist>?

    init(_ lines: [String]) {
        var list: UnsafeMutablePointer<curl_slist>?
        for line in lines { list = curl_slist_append(list, line) }
        self.list = list
    }

    deinit { curl_slist_free_all(list) }
}

/// The per-client transfer options, computed once from the configuration.
struct TransportSettings: Sendable {
    let headers: HeaderList
    let userAgent: String
    let timeoutMilliseconds: Int
    let connectTimeoutMilliseconds: Int
    /// Seconds without a received byte that end an attempt (checked by `Transfer` itself).
    let lowSpeedSeconds: Double
    let maxResponseBytes: Int
    let caBundle: String?
    let proxy: String?
    let timeoutText: String
    let connectTimeoutText: String
    let lowSpeedText: String

    init(_ configuration: ClientConfiguration) {
        // "Expect:" with no value stops libcurl from sending `Expect: 100-continue`.
        headers = HeaderList([
            "X-API-KEY: \(configuration.apiKey)",
            "Content-Type: application/json",
            "Accept: application/json",
            "Expect:",
        ])
        userAgent = configuration.userAgent
        timeoutMilliseconds = max(1, Int(configuration.timeout * 1000))
        connectTimeoutMilliseconds = max(1, Int(configuration.connectTimeout * 1000))
        lowSpeedSeconds = configuration.lowSpeedTimeout
        maxResponseBytes = configuration.maxResponseBytes
        caBundle = configuration.caBundle
        proxy = configuration.proxy
        timeoutText = JSONNumber(configuration.timeout).text.droppingPointZero
        connectTimeoutText = JSONNumber(configuration.connectTimeout).text.droppingPointZero
        lowSpeedText = JSONNumber(configuration.lowSpeedTimeout).text.droppingPointZero
    }
}

extension String {
    /// "2.0" -> "2" for messages.
    var droppingPointZero: String { hasSuffix(".0") ? String(dropLast(2)) : self }
}
