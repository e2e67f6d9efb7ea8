/// A request checked and encoded, ready to be sent.
public struct PreparedRequest: Sendable {
    /// Which endpoint it goes to.
    public let endpoint: Endpoint
    /// The compact UTF-8 JSON body.
    public let body: [UInt8]
    /// True when the body asks for an event stream (`"stream": true`).
    public let isStream: Bool

    /// Parses, validates and encodes a request.
    ///
    /// - Parameters:
    ///   - json: the caller's request JSON (UTF-8 bytes).
    ///   - endpoint: the endpoint it is for.
    ///   - forceStream: set `"stream": true` (the streaming calls).
    ///   - providerKeys: the client-level provider keys to merge.
    /// - Throws: `HumanloopError.invalidRequest` listing every problem.
    public init(json: [UInt8], endpoint: Endpoint, forceStream: Bool, providerKeys: ProviderKeys) throws(HumanloopError) {
        let value: JSONValue
        do {
            value = try JSONReader.parse(json, bigIntegers: .fail)
        } catch where error.isNumericOverflow {
            // The SDK would send it; JSON numbers here are 64-bit integers or doubles.
            let path = json.withUnsafeBytes { JSONPathLocator.pathOfNumber(before: error.offset, in: $0) }
            let subject = path.isEmpty ? "the request" : path
            throw .invalidRequest([ValidationIssue(path: path, message: "\(subject) holds a number out of range (an integer beyond 64 bits or a real beyond a double): \(error.reason)")])
        } catch {
            throw .invalidRequest([ValidationIssue(path: "", message: "the request is not valid JSON: \(error)")])
        }
        try self.init(value: value, endpoint: endpoint, forceStream: forceStream, providerKeys: providerKeys)
    }

    /// Validates and encodes an already parsed request.
    public init(value: JSONValue, endpoint: Endpoint, forceStream: Bool, providerKeys: ProviderKeys) throws(HumanloopError) {
        let issues = RequestValidator.issues(in: value, for: endpoint)
        guard issues.isEmpty, case .object(var object) = value else { throw .invalidRequest(issues) }
        if forceStream { object["stream"] = .bool(true) }
        object["provider_api_keys"] = .object(providerKeys.merged(into: object["provider_api_keys"]?.objectValue))
        self.endpoint = endpoint
        self.body = JSONSerializer.bytes(of: .object(object))
        self.isStream = object["stream"] == .bool(true)
    }
}
