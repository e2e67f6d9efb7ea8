/// Everything a client needs, read from the config JSON and the environment.
public struct ClientConfiguration: Sendable {
    /// The default base URL of the API.
    public static let defaultHost = "https://api.humanloop.com/v4"

    public var apiKey: String
    public var host: String
    public var providerKeys = ProviderKeys()
    /// Seconds for each attempt of a non-stream call, and until the head and first event of a
    /// stream; `.infinity` (`"timeout": null`) sets no limit.
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
    /// What this client logs (`log_level`, else `HUMANLOOP_LOG`, else off).
    public var logLevel = LogLevel.off
    /// The most connections the engine opens to one host.
    public var maxConnections = 1000

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
                                      "max_response_bytes", "ca_bundle", "proxy", "log_level", "max_connections"]
        + providerKeyNames.map { $0.configKey }

    /// Every secret of this configuration (API key and provider keys), to keep out of messages.
    public var secrets: Secrets { Secrets([apiKey] + providerKeys.secrets) }

    /// Reads a configuration.
    ///
    /// - Parameters:
    ///   - json: the config JSON bytes, or `nil` for `{}`.
    ///   - version: the library version, for the default user agent.
    ///   - environment: looks up an environment variable (`HUMANLOOP_API_KEY`, `HUMANLOOP_HOST`).
    /// - Throws: `CallError.invalidConfig` listing every problem found, each with the key
    ///   it concerns and one sentence.
    public init(json: [UInt8]?, version: String, environment: (String) -> String?) throws(CallError) {
        var object = JSONObject()
        if let json {
            let value: JSONValue
            do { value = try JSONReader.parse(json) } catch {
                throw .invalidConfig([ValidationIssue(path: "", message: "the client configuration is not valid JSON: \(error.quotingNothingSecret(of: json))")])
            }
            guard case .object(let members) = value else {
                throw .invalidConfig([ValidationIssue(
                    path: "", message: "the client configuration must be a JSON object, not \(RequestValidator.article(value.typeName))")])
            }
            object = members
        }
        var reader = ConfigReader(object: object)
        reader.rejectUnknownKeys(known: Self.knownKeys)

        func env(_ name: String) -> String? { environment(name).flatMap { $0.isEmpty ? nil : $0 } }
        let apiKey = reader.string("api_key") ?? env("HUMANLOOP_API_KEY")
        if let apiKey {
            reader.checkHeaderValue(apiKey, key: "api_key")
            if apiKey.isEmpty { reader.report("api_key", "api_key must not be empty") }
        } else if reader.issues.allSatisfy({ $0.path != "api_key" }) {
            reader.report("api_key", "no API key: give \"api_key\" in the configuration or set HUMANLOOP_API_KEY")
        }
        self.apiKey = apiKey ?? ""
        if let host = reader.string("host") {
            self.host = reader.normalizedHost(host, source: "host")
        } else if let host = env("HUMANLOOP_HOST") {
            self.host = reader.normalizedHost(host, source: "HUMANLOOP_HOST")
        } else {
            self.host = Self.defaultHost
        }
        self.userAgent = reader.string("user_agent") ?? "libhumanloop/\(version)"
        reader.checkHeaderValue(userAgent, key: "user_agent")
        for (configKey, provider) in Self.providerKeyNames {
            if let key = reader.string(configKey) { providerKeys.set(key, for: provider) }
        }
        timeout = reader.seconds("timeout", allowNull: true) ?? timeout
        connectTimeout = reader.seconds("connect_timeout") ?? connectTimeout
        lowSpeedTimeout = reader.seconds("low_speed_timeout") ?? lowSpeedTimeout
        maxRetries = reader.integer("max_retries", in: 0...100) ?? maxRetries
        retryBaseDelay = reader.seconds("retry_base_delay", allowZero: true) ?? retryBaseDelay
        retryMaxDelay = reader.seconds("retry_max_delay", allowZero: true) ?? retryMaxDelay
        maxResponseBytes = reader.integer("max_response_bytes", in: 1...Int(Int32.max) * 4) ?? maxResponseBytes
        maxConnections = reader.integer("max_connections", in: 1...100_000) ?? maxConnections
        caBundle = reader.string("ca_bundle")
        proxy = reader.string("proxy")
        if let name = reader.string("log_level") {
            if let level = LogLevel(name: name) { logLevel = level } else {
                reader.report("log_level", "configuration key \"log_level\" must be \"off\", \"info\" or \"debug\", not \"\(name.prefix(40))\"")
            }
        } else if let name = env("HUMANLOOP_LOG"), let level = LogLevel(name: name) {
            logLevel = level  // an unknown HUMANLOOP_LOG value is ignored: the environment is not ours to reject
        }
        if let caBundle { reader.checkHeaderValue(caBundle, key: "ca_bundle") }
        if let proxy { reader.checkHeaderValue(proxy, key: "proxy") }
        if !reader.issues.isEmpty { throw .invalidConfig(reader.issues) }
    }
}
