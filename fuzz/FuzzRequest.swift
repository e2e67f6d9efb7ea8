// libFuzzer harness: the JSON entry point of each call (parse, validate, merge keys, encode).
// Whatever the bytes, PreparedRequest must either throw invalidRequest or produce a body that
// parses back and re-encodes to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var keys = ProviderKeys()
    keys.set("client-openai", for: "openai")
    for endpoint in Endpoint.allCases {
        for forceStream in [false, true] {
            do {
                let request = try PreparedRequest(json: bytes, endpoint: endpoint, forceStream: forceStream, providerKeys: keys)
                let reparsed = try? JSONReader.parse(request.body, bigIntegers: .fail)
                guard let reparsed, JSONSerializer.bytes(of: reparsed) == request.body else { fatalError("body does not round-trip") }
                if forceStream && !request.isStream { fatalError("stream flag lost") }
            } catch {
                guard case .invalidRequest(let issues) = error, !issues.isEmpty else { fatalError("unexpected error \(error)") }
                _ = JSONSerializer.bytes(of: Envelope.failure(error, attempts: 0))
            }
        }
    }
    return 0
}
