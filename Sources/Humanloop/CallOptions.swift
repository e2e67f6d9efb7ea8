/// Options of one call (or of every call of a client made with ``HumanloopClient/with(timeout:maxRetries:extraHeaders:)``).
/// What is `nil` comes from the client (and, last, from the library's defaults).
public struct CallOptions: Sendable, Hashable {
    /// Each attempt's time limit (for a stream: until its first event); the library's default is
    /// 600 s. Past it the call fails with ``HumanloopError/timeout(message:attempts:)``.
    public var timeout: Duration?
    /// Retries after a failed attempt, 0...100 (library default 2): connection failures, 408,
    /// 409, 429 and 5xx answers (a stream only before its first event).
    public var maxRetries: Int?
    /// Extra request headers. `X-API-KEY`, `Content-Type`, `Content-Length` and `Host` cannot be
    /// set (an ``HumanloopError/invalidRequest(message:path:errors:)``); other names replace the
    /// library's value (e.g. `User-Agent`).
    public var extraHeaders: [String: String]

    /// Options; all optional.
    public init(timeout: Duration? = nil, maxRetries: Int? = nil, extraHeaders: [String: String] = [:]) {
        self.timeout = timeout
        self.maxRetries = maxRetries
        self.extraHeaders = extraHeaders
    }

    /// These options with `other`'s set values on top (headers merged, `other`'s win).
    func merged(with other: CallOptions?) -> CallOptions {
        guard let other else { return self }
        return CallOptions(timeout: other.timeout ?? timeout, maxRetries: other.maxRetries ?? maxRetries,
                           extraHeaders: extraHeaders.merging(other.extraHeaders) { _, new in new })
    }

    /// The C ABI's options JSON (`timeout`, `max_retries`, `headers`, `stream`), or nil for none.
    func json(stream: Bool) -> [UInt8]? {
        var members: [String] = []
        if let timeout {
            let parts = timeout.components
            let seconds = Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
            members.append("\"timeout\":\(seconds)")
        }
        if let maxRetries { members.append("\"max_retries\":\(maxRetries)") }
        if !extraHeaders.isEmpty {
            let headers = extraHeaders.sorted { $0.key < $1.key }
                .map { "\(JSONBytesEncoder.quoted($0.key)):\(JSONBytesEncoder.quoted($0.value))" }
            members.append("\"headers\":{\(headers.joined(separator: ","))}")
        }
        if stream { members.append("\"stream\":true") }
        if members.isEmpty { return nil }
        return Array("{\(members.joined(separator: ","))}".utf8)
    }
}
