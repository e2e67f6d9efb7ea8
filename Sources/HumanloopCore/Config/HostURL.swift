import CCurl

/// Checks and normalises the base URL.
enum HostURL {
    /// `host` with one trailing "/" removed, if libcurl reads it as an http(s) URL with a server,
    /// and no user, query, fragment, whitespace or control characters.
    static func normalized(_ host: String, source: String) throws(CallError) -> String {
        func problem(_ message: String) -> CallError {
            .invalidConfig([ValidationIssue(path: source, message: "\(source) \(message)")])
        }
        let notHTTP = "must be an http:// or https:// URL"
        let spaces = "must not contain spaces or control characters"
        let noServer = "must name a server (scheme://server[:port][/path])"
        let hasSpaces = host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
        var failure = CURLUE_OK
        guard let url = CurlURL(host, failure: &failure) else {
            switch failure {
            case CURLUE_BAD_SCHEME, CURLUE_NO_SCHEME, CURLUE_UNSUPPORTED_SCHEME, CURLUE_BAD_SLASHES: throw problem(notHTTP)
            default: throw problem(hasSpaces ? spaces : noServer)
            }
        }
        guard url.isHTTP else { throw problem(notHTTP) }
        if hasSpaces { throw problem(spaces) }
        // libcurl drops an empty fragment ("#" alone): the text still has it.
        if url.query != nil || url.fragment != nil || host.contains("#") {
            throw problem("must not have a query or a fragment")
        }
        if url.user != nil || url.password != nil || (url.host ?? "").isEmpty { throw problem(noServer) }
        var result = host
        if result.hasSuffix("/") { result.removeLast() }
        return result
    }
}
