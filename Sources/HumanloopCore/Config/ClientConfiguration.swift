/// Everything a client needs, read from the config JSON and the environment.
public struct ClientConfiguration: Sendable {
    /// The default base URL of the API.
    public static let defaultHost = "https://api.humanloop.com/v4"

    public var apiKey: String
    public var host: String
    public var providerKeys = ProviderKeys()
    public var timeout: Double = 600
    public var connectTimeout: Double = 10
    public var lowSpeedTimeout: Double = 60
    public var userAgent: String
    public var maxRetries = 2
    public var retryBaseDelay: Double = 0.5
    public var retryMaxDelay: Double = 8
    public var maxResponseBytes = 64 * 1024 * 1024
    public var caBundle: String?
    public var proxy: String?

    /// Config keys that name a provider key, and the provider each one sets.
    static let providerKeyNames: [(configKey: String, provider: String)] = [
        ("openai_api_key", "openai"),
        ("openai_azure_api_key", "openai_azure"),
        ("openai_azure_endpoint_api_key", "openai_azure_endpoint"),
        ("ai21_api_key", "ai21"),
        ("mock_api_key", "mock"),
        ("anthropic_api_key", "anthropic"),
        ("cohere_api_key", "cohere"),
    ]

    static let knownKeys: [String] = ["api_key", "host", "timeout", "connect_timeout", "low_speed_timeout",
                                      "user_agent", "max_retries", "retry_base_delay", "retry_max_delay",
                                      "max_response_bytes", "ca_bundle", "proxy"]
        + providerKeyNames.map { $0.configKey }

    /// Every secret of this configuration (API key and provider keys), to keep out of messages.
    public var secrets: [String] { [apiKey] + providerKeys.secrets }

    /// Reads a configuration.
    ///
    /// - Parameters:
    ///   - json: the config JSON bytes, or `nil` for `{}`.
    ///   - version: the library version, for the default user agent.
    ///   - environment: looks up an environment variable (`HUMANLOOP_API_KEY`, `HUMANLOOP_HOST`).
    /// - Throws: `HumanloopError.invalidConfig` with one sentence naming the problem.
    public init(json: [UInt8]?, version: String, environment: (String) -> String?) throws(HumanloopError) {
        var object = JSONObject()
        if let json {
            let value: JSONValue
            do { value = try JSONParser.parse(json) } catch {
                throw .invalidConfig("the client configuration is not valid JSON: \(error)")
            }
            guard case .object(let members) = value else {
                throw .invalidConfig("the client configuration must be a JSON object, not \(RequestValidator.article(value.typeName))")
            }
            object = members
        }
        let reader = ConfigReader(object: object)
        try reader.rejectUnknownKeys(known: Self.knownKeys)

        func env(_ name: String) -> String? { environment(name).flatMap { $0.isEmpty ? nil : $0 } }
        guard let apiKey = try reader.string("api_key") ?? env("HUMANLOOP_API_KEY") else {
            throw .invalidConfig("no API key: give \"api_key\" in the configuration or set HUMANLOOP_API_KEY")
        }
        try HeaderValue.check(apiKey, name: "api_key")
        if apiKey.isEmpty { throw .invalidConfig("api_key must not be empty") }
        self.apiKey = apiKey
        if let host = try reader.string("host") {
            self.host = try HostURL.normalized(host, source: "host")
        } else if let host = env("HUMANLOOP_HOST") {
            self.host = try HostURL.normalized(host, source: "HUMANLOOP_HOST")
        } else {
            self.host = Self.defaultHost
        }
        self.userAgent = try reader.string("user_agent") ?? "libhumanloop/\(version)"
        try HeaderValue.check(userAgent, name: "user_agent")
        for (configKey, provider) in Self.providerKeyNames {
            if let key = try reader.string(configKey) { providerKeys.set(key, for: provider) }
        }
        timeout = try reader.seconds("timeout") ?? timeout
        connectTimeout = try reader.seconds("connect_timeout") ?? connectTimeout
        lowSpeedTimeout = try reader.seconds("low_speed_timeout") ?? lowSpeedTimeout
        maxRetries = try reader.integer("max_retries", in: 0...100) ?? maxRetries
        retryBaseDelay = try reader.seconds("retry_base_delay", allowZero: true) ?? retryBaseDelay
        retryMaxDelay = try reader.seconds("retry_max_delay", allowZero: true) ?? retryMaxDelay
        maxResponseBytes = try reader.integer("max_response_bytes", in: 1...Int(Int32.max) * 4) ?? maxResponseBytes
        caBundle = try reader.string("ca_bundle")
        proxy = try reader.string("proxy")
        if let caBundle { try HeaderValue.check(caBundle, name: "ca_bundle") }
        if let proxy { try HeaderValue.check(proxy, name: "proxy") }
    }
}

/// Typed reads from the config object, each failing with a precise message.
struct ConfigReader {
    let object: JSONObject

    func rejectUnknownKeys(known: [String]) throws(HumanloopError) {
        for key in object.keys where !known.contains(key) {
            throw .invalidConfig("unknown configuration key \"\(key)\"")
        }
    }

    func string(_ key: String) throws(HumanloopError) -> String? {
        guard let value = object[key] else { return nil }
        guard case .string(let text) = value else {
            throw .invalidConfig("configuration key \"\(key)\" must be a string, not \(RequestValidator.article(value.typeName))")
        }
        return text
    }

    func seconds(_ key: String, allowZero: Bool = false) throws(HumanloopError) -> Double? {
        guard let value = object[key] else { return nil }
        guard case .number(let number) = value, let seconds = number.doubleValue, seconds.isFinite else {
            throw .invalidConfig("configuration key \"\(key)\" must be a number of seconds, not \(RequestValidator.article(value.typeName))")
        }
        guard allowZero ? seconds >= 0 : seconds > 0, seconds <= 31_536_000 else {
            throw .invalidConfig("configuration key \"\(key)\" must be \(allowZero ? "at least 0" : "greater than 0") and at most one year, not \(number.text)")
        }
        return seconds
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(HumanloopError) -> Int? {
        guard let value = object[key] else { return nil }
        guard case .number(let number) = value, let integer = number.intValue else {
            throw .invalidConfig("configuration key \"\(key)\" must be an integer, not \(RequestValidator.article(value.typeName))")
        }
        guard range.contains(integer) else {
            throw .invalidConfig("configuration key \"\(key)\" must be between \(range.lowerBound) and \(range.upperBound), not \(integer)")
        }
        return integer
    }
}

/// Header values must not let a caller inject headers.
enum HeaderValue {
    static func check(_ value: String, name: String) throws(HumanloopError) {
        if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
            throw .invalidConfig("\(name) contains a CR, LF or NUL character")
        }
    }
}

/// Checks and normalises the base URL.
enum HostURL {
    /// `host` with one trailing "/" removed, if it is an http(s) URL with a host and no query,
    /// fragment, whitespace or control characters.
    static func normalized(_ host: String, source: String) throws(HumanloopError) -> String {
        let lower = host.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("https://") { schemeLength = 8 } else if lower.hasPrefix("http://") { schemeLength = 7 } else {
            throw .invalidConfig("\(source) must be an http:// or https:// URL")
        }
        if host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            throw .invalidConfig("\(source) must not contain spaces or control characters")
        }
        if host.contains("?") || host.contains("#") {
            throw .invalidConfig("\(source) must not have a query or a fragment")
        }
        let authority = host.dropFirst(schemeLength).prefix { $0 != "/" }
        if authority.isEmpty || authority.hasPrefix(":") || authority.contains("@") {
            throw .invalidConfig("\(source) must name a server (scheme://server[:port][/path])")
        }
        var result = host
        if result.hasSuffix("/") { result.removeLast() }
        return result
    }
}
