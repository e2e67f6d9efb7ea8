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
    static func decode(_ bytes: [UInt8]) -> Result<Envelope, HumanloopError> {
        do {
            return .success(try JSONDecoder().decode(Envelope.self, from: Data(bytes)))
        } catch {
            let loose = try? JSONDecoder().decode(Envelope<JSONValue>.self, from: Data(bytes))
            return .failure(.invalidResponse(status: loose?.status, body: String(decoding: bytes.prefix(65_536), as: UTF8.self),
                                             message: "the answer does not match the API's types: \(error)",
                                             attempts: loose?.attempts ?? 0))
        }
    }
}
