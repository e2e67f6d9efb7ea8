import CCurl
import HumanloopCore

/// The transfer options of a client, computed once from the configuration, or of one call
/// (the client's with the call's options applied).
struct TransportSettings: Sendable {
    let headers: HeaderList
    /// The client's DNS cache and TLS sessions (the same for every call of the client).
    let share: CurlShare
    let userAgent: String
    /// `timeout` in seconds: each attempt of a buffered call, a stream's head and first event
    /// (nil: no limit).
    let timeoutSeconds: Double?
    let connectTimeoutMilliseconds: Int
    /// Seconds without a received byte that end an attempt (checked by `Transfer` itself).
    let lowSpeedSeconds: Double
    let maxResponseBytes: Int
    let caBundle: String?
    let proxy: String?
    let timeoutText: String
    let connectTimeoutText: String
    let lowSpeedText: String
    /// True for an https host: its connections may speak HTTP/2 (ALPN), so a new transfer waits
    /// for a connection being made to say whether it multiplexes. (Over plain http that is only
    /// known once an answer arrived: waiting would serialise the calls.)
    let mayMultiplex: Bool

    init(_ configuration: ClientConfiguration) {
        self.init(configuration, timeout: configuration.timeout, connectTimeout: configuration.connectTimeout,
                  lowSpeedTimeout: configuration.lowSpeedTimeout, extraHeaders: [], share: CurlShare())
    }

    private init(_ configuration: ClientConfiguration, timeout: Double, connectTimeout: Double, lowSpeedTimeout: Double,
                 extraHeaders: [(name: String, value: String)], share: CurlShare) {
        self.share = share
        // "Expect:" with no value stops libcurl from sending `Expect: 100-continue`.
        let baseHeaders: [(name: String, value: String)] = [("X-API-KEY", configuration.apiKey), ("Content-Type", "application/json"), ("Accept", "application/json"),
                       ("Expect", "")]
        let replaced = Set(extraHeaders.map { $0.name.lowercased() })
        var lines = baseHeaders.filter { !replaced.contains($0.name.lowercased()) }.map(Self.line)
        lines += extraHeaders.map(Self.line)
        headers = HeaderList(lines)
        userAgent = configuration.userAgent
        timeoutSeconds = timeout.isFinite ? timeout : nil
        connectTimeoutMilliseconds = max(1, Int(connectTimeout * 1000))
        lowSpeedSeconds = lowSpeedTimeout
        maxResponseBytes = configuration.maxResponseBytes
        caBundle = configuration.caBundle
        proxy = configuration.proxy
        timeoutText = timeout.isFinite ? JSONNumber(timeout).text.droppingPointZero : "unlimited"
        connectTimeoutText = JSONNumber(connectTimeout).text.droppingPointZero
        lowSpeedText = JSONNumber(lowSpeedTimeout).text.droppingPointZero
        mayMultiplex = configuration.host.lowercased().hasPrefix("https://")
    }

    /// `timeoutSeconds` for libcurl (0: no limit).
    var timeoutMilliseconds: Int {
        guard let seconds = timeoutSeconds else { return 0 }
        return max(1, Int(min(seconds, 31_536_000) * 1000))
    }

    /// These settings (the client's) with a call's options applied.
    func forCall(_ configuration: ClientConfiguration, options: CallOptions) -> TransportSettings {
        TransportSettings(configuration, timeout: options.timeout ?? configuration.timeout,
                          connectTimeout: options.connectTimeout ?? configuration.connectTimeout,
                          lowSpeedTimeout: options.lowSpeedTimeout ?? configuration.lowSpeedTimeout, extraHeaders: options.headers,
                          share: share)
    }

    /// A libcurl header line: "Name: value", "Name;" for an empty value sent as such, and
    /// "Expect:" (libcurl's way of not sending a header it would add).
    private static func line(_ header: (name: String, value: String)) -> String {
        if header.value.isEmpty { return header.name.lowercased() == "expect" ? "Expect:" : "\(header.name);" }
        return "\(header.name): \(header.value)"
    }
}
