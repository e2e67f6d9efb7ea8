import HumanloopCore

/// Where a 307/308 answer may be followed: only to the same scheme, host and port.
enum Redirect {
    /// The absolute URL of `location` (a path from the root, or an absolute http(s) URL) when it
    /// stays on the origin of `url`, else nil. Both are read by libcurl's URL parser, and the URL
    /// returned is libcurl's writing of what was checked.
    static func sameOriginTarget(location: String, from url: String) -> String? {
        guard let base = CurlURL(url), base.isHTTP else { return nil }
        let target: CurlURL?
        if location.hasPrefix("/") && !location.hasPrefix("//") {
            target = base.resolving(location)
        } else {
            target = CurlURL(location)
        }
        guard let target, target.isHTTP, target.user == nil, target.password == nil,
              target.scheme == base.scheme, target.port == base.port,
              let host = target.host, let baseHost = base.host, host.lowercased() == baseHost.lowercased()
        else { return nil }
        return target.text
    }
}
