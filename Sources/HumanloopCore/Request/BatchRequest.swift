/// A batch of calls (hl_batch): `{"concurrency":N,"requests":[{"call":...,"request":{...},"options":{...}}, ...]}`.
public struct BatchRequest {
    /// One call of the batch, ready to run, or why it cannot run (its own result).
    public struct Item {
        public var endpoint: Endpoint
        public var request: PreparedRequest
        public var options: CallOptions
    }

    /// The default number of calls of a batch in flight at once.
    public static let defaultConcurrency = 16

    /// The most calls in flight at once.
    public let concurrency: Int
    /// Slow down on rate limits (429): fewer calls in flight, a pause for Retry-After, the
    /// request put back in the batch's queue rather than failed ("rate_aware": true).
    public let isRateAware: Bool
    /// Each request of the batch, in order: ready, or the error it gets as its result.
    public let items: [Result<Item, CallError>]

    /// Reads a batch. A problem of one item becomes that item's error; a problem of the batch as
    /// a whole is thrown.
    ///
    /// - Parameter providerKeys: the client-level provider keys merged into every request.
    /// - Throws: `CallError.invalidRequest` for a batch that is not JSON, not an object, has
    ///   unknown keys, a bad "concurrency" or "requests" that is not an array.
    public init(json: [UInt8]?, providerKeys: ProviderKeys) throws(CallError) {
        guard let json else {
            throw .invalidRequest([ValidationIssue(path: "", message: "the batch is NULL; pass a JSON object")])
        }
        let document: JanssonDocument
        do {
            document = try JSONReader.document(json, bigIntegers: .fail)
        } catch where error.isNumericOverflow {
            let path = json.withUnsafeBytes { JSONPathLocator.pathOfNumber(before: error.offset, in: $0) }
            throw .invalidRequest([ValidationIssue(path: path, message: "\(path.isEmpty ? "the batch" : path) holds a number out of range (an integer beyond 64 bits or a real beyond a double): \(error.quotingNothingSecret(of: json).reason)")])
        } catch {
            throw .invalidRequest([ValidationIssue(path: "", message: "the batch is not valid JSON: \(error.quotingNothingSecret(of: json).requestReason)")])
        }
        let root = document.root
        guard root.isObject else {
            throw .invalidRequest([ValidationIssue(path: "", message: "the batch must be a JSON object, not \(RequestValidator.article(root.typeName))")])
        }
        var issues: [ValidationIssue] = []
        for (key, _) in root.members where !["concurrency", "requests", "rate_aware"].contains(key) {
            issues.append(ValidationIssue(path: key, message: "unknown batch key \"\(key.prefix(60))\" (the keys are \"concurrency\", \"requests\" and \"rate_aware\")"))
        }
        var rateAware = false
        if let given = root["rate_aware"] {
            if given.isBoolean { rateAware = given.isTrue } else {
                issues.append(ValidationIssue(path: "rate_aware", message: "\"rate_aware\" must be true or false, not \(RequestValidator.describe(given))"))
            }
        }
        var concurrency = Self.defaultConcurrency
        if let given = root["concurrency"] {
            if given.isInteger, let text = given.numberText, let value = Int(text), (1...10_000).contains(value) {
                concurrency = value
            } else {
                issues.append(ValidationIssue(path: "concurrency", message: "\"concurrency\" must be an integer between 1 and 10000, not \(RequestValidator.describe(given))"))
            }
        }
        var requests: [JanssonValue] = []
        if let given = root["requests"] {
            if given.isArray { requests = given.elements } else {
                issues.append(ValidationIssue(path: "requests", message: "\"requests\" must be an array, not \(RequestValidator.article(given.typeName))"))
            }
        } else {
            issues.append(ValidationIssue(path: "requests", message: "the batch has no \"requests\" array"))
        }
        guard issues.isEmpty else { throw .invalidRequest(issues) }
        self.concurrency = concurrency
        isRateAware = rateAware
        items = requests.map { Self.item($0, providerKeys: providerKeys) }
    }

    /// One element of "requests": its call, its request and its options.
    private static func item(_ element: JanssonValue, providerKeys: ProviderKeys) -> Result<Item, CallError> {
        guard element.isObject else {
            return .failure(.invalidRequest([ValidationIssue(path: "", message: "a batch item must be a JSON object {\"call\":...,\"request\":{...}}, not \(RequestValidator.article(element.typeName))")]))
        }
        var issues: [ValidationIssue] = []
        for (key, _) in element.members where !["call", "request", "options"].contains(key) {
            issues.append(ValidationIssue(path: key, message: "unknown batch item key \"\(key.prefix(60))\" (the keys are \"call\", \"request\" and \"options\")"))
        }
        var endpoint: Endpoint?
        if let name = element["call"]?.string {
            endpoint = Endpoint(callName: name)
            if endpoint == nil { issues.append(Endpoint.unknownCallIssue(name)) }
        } else {
            issues.append(ValidationIssue(path: "call", message: "a batch item needs \"call\": \"complete\", \"complete_deployed\", \"complete_experiment\" or \"complete_model_configuration\""))
        }
        var options = CallOptions()
        if let given = element["options"] {
            var bytes: [UInt8] = []
            given.write(to: &bytes)
            do { options = try CallOptions(json: bytes) } catch { issues += error.issues }
        }
        guard issues.isEmpty, let endpoint else { return .failure(.invalidRequest(issues)) }
        guard let request = element["request"] else {
            return .failure(.invalidRequest([ValidationIssue(path: "", message: "the batch item has no \"request\"; pass a JSON object")]))
        }
        do {
            let prepared = try PreparedRequest(root: request, endpoint: endpoint, forceStream: options.stream, providerKeys: providerKeys)
            return .success(Item(endpoint: endpoint, request: prepared, options: options))
        } catch {
            return .failure(error)
        }
    }
}
