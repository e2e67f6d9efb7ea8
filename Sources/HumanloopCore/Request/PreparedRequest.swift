/// A request checked and encoded, ready to be sent.
public struct PreparedRequest: Sendable {
    /// Which endpoint it goes to.
    public let endpoint: Endpoint
    /// The compact UTF-8 JSON body.
    public let body: [UInt8]
    /// True when the body asks for an event stream (`"stream": true`).
    public let isStream: Bool
    /// The request's own provider keys (every value under its `provider_api_keys`): kept out of
    /// every message, log line and error envelope of the call.
    public let secrets: [String]

    /// Parses (jansson), validates and encodes a request. The body is written from jansson's tree:
    /// key order as given, integers as integers, reals as Python's repr (as the official SDK
    /// sends them), `"stream": true` set or replaced in place, the provider keys merged.
    ///
    /// - Parameters:
    ///   - json: the caller's request JSON (UTF-8 bytes).
    ///   - endpoint: the endpoint it is for.
    ///   - forceStream: set `"stream": true` (the streaming calls).
    ///   - providerKeys: the client-level provider keys to merge.
    /// - Throws: `CallError.invalidRequest` listing every problem.
    public init(json: [UInt8], endpoint: Endpoint, forceStream: Bool, providerKeys: ProviderKeys) throws(CallError) {
        let document: JanssonDocument
        do {
            document = try JSONReader.document(json, bigIntegers: .fail)
        } catch where error.isNumericOverflow {
            // The SDK would send it; JSON numbers here are 64-bit integers or doubles.
            let path = json.withUnsafeBytes { JSONPathLocator.pathOfNumber(before: error.offset, in: $0) }
            let subject = path.isEmpty ? "the request" : path
            throw .invalidRequest([ValidationIssue(path: path, message: "\(subject) holds a number out of range (an integer beyond 64 bits or a real beyond a double): \(error.quotingNothingSecret(of: json).reason)")])
        } catch {
            throw .invalidRequest([ValidationIssue(path: "", message: "the request is not valid JSON: \(error.quotingNothingSecret(of: json).requestReason)")])
        }
        try self.init(root: document.root, endpoint: endpoint, forceStream: forceStream, providerKeys: providerKeys)
    }

    /// Validates and encodes a request already parsed by jansson (an item of a batch). `root` is
    /// completed in place (stream flag, provider keys).
    init(root: JanssonValue, endpoint: Endpoint, forceStream: Bool, providerKeys: ProviderKeys) throws(CallError) {
        let secrets = ProviderKeys.values(in: root)
        let issues = RequestValidator.issues(in: root, for: endpoint)
        guard issues.isEmpty else {
            // Values under provider_api_keys are never described (by path); a key repeated
            // elsewhere in the request is redacted by value.
            let redaction = Secrets(secrets)
            throw .invalidRequest(issues.map { ValidationIssue(path: redaction.redact($0.path), message: redaction.redact($0.message)) })
        }
        if forceStream { root.set("stream", JanssonValue.makeTrue()) }
        guard providerKeys.merge(into: root) else {
            throw .invalidRequest([ValidationIssue(path: "provider_api_keys", message: "the provider keys could not be added (out of memory)")])
        }
        var body: [UInt8] = []
        body.reserveCapacity(1024)
        root.write(to: &body)
        self.endpoint = endpoint
        self.body = body
        self.isStream = root["stream"]?.isTrue ?? false
        self.secrets = secrets
    }
}
