/// The client-level provider keys, merged into every request's `provider_api_keys`.
public struct ProviderKeys: Equatable, Sendable {
    /// Provider names in the order the official SDK merges them.
    public static let names = ["openai", "anthropic", "cohere", "openai_azure", "openai_azure_endpoint", "ai21", "mock"]

    /// The key per provider name (only names of `ProviderKeys.names`).
    public private(set) var keys: [(provider: String, key: String)] = []

    public init() {}

    /// Sets the client-level key of `provider` (one of `ProviderKeys.names`).
    public mutating func set(_ key: String, for provider: String) {
        keys.removeAll { $0.provider == provider }
        keys.append((provider, key))
        keys.sort { Self.order(of: $0.provider) < Self.order(of: $1.provider) }
    }

    /// The client-level key of `provider`, if set.
    public func key(for provider: String) -> String? {
        keys.first { $0.provider == provider }?.key
    }

    /// Every key value (to keep secrets out of messages).
    public var secrets: [String] { keys.map { $0.key } }

    /// Every value at or under a request's `provider_api_keys`, whatever its shape (strings as
    /// they are, numbers as the library writes them; an unknown provider's too): the request's
    /// own secrets.
    static func values(in request: JanssonValue) -> [String] {
        guard request.isObject, let keys = request["provider_api_keys"] else { return [] }
        var values: [String] = []
        var pending = [keys]
        while let value = pending.popLast() {
            if let text = value.string ?? value.numberText {
                values.append(text)
            } else if value.isObject {
                pending += value.members.map { $0.value }
            } else if value.isArray {
                pending += value.elements
            }
        }
        return values
    }

    private static func order(of provider: String) -> Int {
        names.firstIndex(of: provider) ?? names.count
    }

    /// Completes the request's `provider_api_keys` (kept in its place, or added at the end): the
    /// request's object (order and extra names kept) plus each client-level key whose provider
    /// it does not name. Per provider: request key > client key > nothing. The request was
    /// validated: `provider_api_keys`, if present, is an object. False when jansson fails.
    func merge(into request: JanssonValue) -> Bool {
        guard let object = request["provider_api_keys"] ?? request.set("provider_api_keys", JanssonValue.makeObject()) else { return false }
        for (provider, key) in keys where object[provider] == nil {
            guard object.set(provider, JanssonValue.makeString(key)) != nil else { return false }
        }
        return true
    }

    public static func == (lhs: ProviderKeys, rhs: ProviderKeys) -> Bool {
        lhs.keys.map { "\($0.provider)=\($0.key)" } == rhs.keys.map { "\($0.provider)=\($0.key)" }
    }
}
