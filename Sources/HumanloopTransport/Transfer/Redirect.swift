/// Where a 307/308 answer may be followed: only to the same scheme, host and port.
enum Redirect {
    /// The absolute URL of `location` when it stays on the origin of `url`, else nil.
    static func sameOriginTarget(location: String, from url: String) -> String? {
        guard let origin = origin(of: url) else { return nil }
        if location.hasPrefix("/") && !location.hasPrefix("//") {
            return origin.text + location
        }
        guard let target = self.origin(of: location), target.key == origin.key else { return nil }
        return location
    }

    /// The origin of an absolute http(s) URL: its text ("http://h:1") and a normalised key.
    private static func origin(of url: String) -> (text: String, key: String)? {
        let lower = url.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        let rest = url.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = authority.lowercased()
        var port = scheme == "https" ? "443" : "80"
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            port = String(host[host.index(after: colon)...])
            host = String(host[..<colon])
        }
        return (scheme + "://" + authority, scheme + "://" + host + ":" + port)
    }
}
