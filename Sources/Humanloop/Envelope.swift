import Foundation

/// A result item of the C ABI (an envelope, a stream's event or terminal item), decoded with
/// `Body` as the type of its `body` or `event`.
struct Envelope<Body: Decodable>: Decodable {
    var ok: Bool
    var status: Int?
    var headers: [String: String]?
    var body: Body?
    var event: Body?
    var done: Bool?
    var attempts: Int?
    var roundTripTime: Double?
    var error: ErrorPayload?

    enum CodingKeys: String, CodingKey {
        case ok, status, headers, body, event, done, attempts, error
        case roundTripTime = "round_trip_time"
    }

    /// Decodes an item; what this API cannot read is an `invalid_response` that quotes it.
    ///
    /// The fast path parses the bytes into a ``JSONValue`` (`JSONParser`) and decodes the types
    /// from it (`JSONValueDecoder`): `JSONDecoder` costs several times more per item, mostly in
    /// the errors ``JSONValue``'s `init(from:)` has to try through. When the fast path fails,
    /// `JSONDecoder` reads the bytes again and its error is the one reported.
    static func decode(_ bytes: [UInt8]) -> Result<Envelope, HumanloopError> {
        if let value = JSONParser.parse(bytes), let envelope = try? Envelope(parsed: value) {
            return .success(envelope)
        }
        do {
            return .success(try JSONDecoder().decode(Envelope.self, from: Data(bytes)))
        } catch {
            let loose = try? JSONDecoder().decode(Envelope<JSONValue>.self, from: Data(bytes))
            return .failure(.invalidResponse(status: loose?.status, body: String(decoding: bytes.prefix(65_536), as: UTF8.self),
                                             message: "the answer does not match the API's types: \(error)",
                                             attempts: loose?.attempts ?? 0))
        }
    }

    /// The fast path's envelope, read from the parsed item (the envelope's own members directly,
    /// `body`, `event` and `error` through `JSONValueDecoder`); throws on anything unexpected.
    init(parsed value: JSONValue) throws {
        guard case .object(let members) = value, case .bool(let ok)? = members["ok"] else { throw JSONValueDecoder.Mismatch() }
        func present(_ name: String) -> JSONValue? {
            guard let member = members[name], member != .null else { return nil }
            return member
        }
        self.ok = ok
        status = try present("status").map { try JSONValueDecoder.decode(Int.self, from: $0) }
        if let headers = present("headers") {
            guard case .object(let fields) = headers else { throw JSONValueDecoder.Mismatch() }
            var strings: [String: String] = [:]
            strings.reserveCapacity(fields.count)
            for (name, field) in fields {
                guard case .string(let text) = field else { throw JSONValueDecoder.Mismatch() }
                strings[name] = text
            }
            self.headers = strings
        } else {
            headers = nil
        }
        body = try present("body").map { try JSONValueDecoder.decode(Body.self, from: $0) }
        event = try present("event").map { try JSONValueDecoder.decode(Body.self, from: $0) }
        done = try present("done").map { try JSONValueDecoder.decode(Bool.self, from: $0) }
        attempts = try present("attempts").map { try JSONValueDecoder.decode(Int.self, from: $0) }
        roundTripTime = try present("round_trip_time").map { try JSONValueDecoder.decode(Double.self, from: $0) }
        error = try present("error").map { try JSONValueDecoder.decode(ErrorPayload.self, from: $0) }
    }
}
