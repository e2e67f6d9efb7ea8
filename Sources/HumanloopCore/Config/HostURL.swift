/// Checks and normalises the base URL.
enum HostURL {
    /// `host` with one trailing "/" removed, if it is an http(s) URL with a host and no query,
    /// fragment, whitespace or control characters.
    static func normalized(_ host: String, source: String) throws(CallError) -> String {
        let lower = host.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("https://") { schemeLength = 8 } else if lower.hasPrefix("http://") { schemeLength = 7 } else {
            throw .invalidConfig([ValidationIssue(path: source, message: "\(source) must be an http:// or https:// URL")])
        }
        if host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            throw .invalidConfig([ValidationIssue(path: source, message: "\(source) must not contain spaces or control characters")])
        }
        if host.contains("?") || host.contains("#") {
            throw .invalidConfig([ValidationIssue(path: source, message: "\(source) must not have a query or a fragment")])
        }
        let authority = host.dropFirst(schemeLength).prefix { $0 != "/" }
        if authority.isEmpty || authority.hasPrefix(":") || authority.contains("@") {
            throw .invalidConfig([ValidationIssue(path: source, message: "\(source) must name a server (scheme://server[:port][/path])")])
        }
        var result = host
        if result.hasSuffix("/") { result.removeLast() }
        return result
    }
}
