import CCurl

/// A URL as libcurl's URL API (`CURLU`) reads it: the same parser that reads the URL of every
/// request, so what is checked here is what libcurl will fetch.
///
/// The URL API is pure (no global initialisation, no I/O), like the jansson calls of the core.
public final class CurlURL {
    private let handle: OpaquePointer

    /// `text` read as an absolute URL (any scheme, `CURLU_NON_SUPPORT_SCHEME`), or nil with
    /// libcurl's reason in `failure`.
    public convenience init?(_ text: String) {
        var failure = CURLUE_OK
        self.init(text, failure: &failure)
    }

    /// `text` read as an absolute URL (any scheme); on failure nil, and libcurl's reason in
    /// `failure`.
    public init?(_ text: String, failure: inout CURLUcode) {
        guard let handle = curl_url() else {
            failure = CURLUE_OUT_OF_MEMORY
            return nil
        }
        let code = curl_url_set(handle, CURLUPART_URL, text, UInt32(CURLU_NON_SUPPORT_SCHEME))
        guard code == CURLUE_OK else {
            curl_url_cleanup(handle)
            failure = code
            return nil
        }
        self.handle = handle
    }

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit { curl_url_cleanup(handle) }

    /// `reference` resolved against this URL (RFC 3986: a path, a query, or an absolute URL),
    /// or nil when libcurl cannot read it.
    public func resolving(_ reference: String) -> CurlURL? {
        guard let copy = curl_url_dup(handle) else { return nil }
        let resolved = CurlURL(handle: copy)
        guard curl_url_set(copy, CURLUPART_URL, reference, UInt32(CURLU_NON_SUPPORT_SCHEME)) == CURLUE_OK else { return nil }
        return resolved
    }

    /// The whole URL as libcurl writes it.
    public var text: String? { part(CURLUPART_URL) }
    /// The scheme, lowercase.
    public var scheme: String? { part(CURLUPART_SCHEME) }
    public var user: String? { part(CURLUPART_USER) }
    public var password: String? { part(CURLUPART_PASSWORD) }
    public var host: String? { part(CURLUPART_HOST) }
    /// The port, the scheme's default one when the URL names none.
    public var port: String? { part(CURLUPART_PORT, flags: UInt32(CURLU_DEFAULT_PORT)) }
    /// The query, without its "?" (nil when there is none; "" for a bare "?").
    public var query: String? { part(CURLUPART_QUERY) }
    /// The fragment, without its "#" (libcurl drops an empty one).
    public var fragment: String? { part(CURLUPART_FRAGMENT) }

    /// True for an http:// or https:// URL.
    public var isHTTP: Bool { scheme == "http" || scheme == "https" }

    private func part(_ which: CURLUPart, flags: UInt32 = 0) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard curl_url_get(handle, which, &value, flags) == CURLUE_OK, let value else { return nil }
        defer { curl_free(value) }
        return String(cString: value)
    }
}
