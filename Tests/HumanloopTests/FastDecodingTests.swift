import Foundation
import Testing
@testable import Humanloop

/// The fast path of reading the C ABI's items (JSONParser + JSONValueDecoder) reads what
/// Foundation's JSONDecoder reads, and gives up (nil) on what is not JSON.
@Suite struct FastDecodingTests {
    static let item = #"""
    {"ok":true,"status":200,"headers":{"content-type":"application/json","x-a":"1, 2"},
     "body":{"data":[{"id":"d\"0\\","index":0,"output":"caf\u00e9 \ud83d\ude00 \n\t\/","raw_output":"é😀","inputs":{"q":"Hi","n":3,"x":1.5,"e":1e3,"neg":-0,"big":123456789012345678901234.5,"z":null,"t":true,"a":[1,[],{}]},"model_config_id":"c","finish_reason":"stop","score":0.25}],
       "provider_responses":[{"id":"p","choices":[{"text":"x","logprobs":null}]}],"project_id":"pr","num_samples":1,
       "usage":{"prompt_tokens":7,"generation_tokens":6,"total_tokens":13,"cached_tokens":1},"metadata":{"k":[true,false,null]},"new_field":{"b":-2.5E-3}},
     "attempts":1,"round_trip_time":0.0123}
    """#

    @Test func sameAsJSONDecoder() throws {
        let bytes = Array(Self.item.utf8)
        let value = try #require(JSONParser.parse(bytes))
        let fast = try Envelope<CompletionResponse>(parsed: value)
        let slow = try JSONDecoder().decode(Envelope<CompletionResponse>.self, from: Data(bytes))
        #expect(fast.ok == slow.ok && fast.status == slow.status && fast.headers == slow.headers)
        #expect(fast.attempts == slow.attempts && fast.roundTripTime == slow.roundTripTime)
        let body = try #require(fast.body)
        #expect(body.data[0].id == "d\"0\\")
        #expect(body.data[0].output == "café 😀 \n\t/")
        #expect(body.data[0].rawOutput == "é😀")
        #expect(body.data[0].inputs?["n"] == .integer(3))
        #expect(body.data[0].inputs?["x"] == .number(1.5))
        #expect(body.data[0].inputs?["e"] == .number(1000))
        #expect(body.data[0].inputs?["big"] == .number(123456789012345678901234.5))
        #expect(body.data[0].inputs?["z"] == .null)
        #expect(body.data[0].extra == ["score": 0.25])
        #expect(body.usage?.extra == ["cached_tokens": 1])
        #expect(body.extra == ["new_field": ["b": -0.0025]])
        // Everything but the documented number rule (JSONDecoder's Int64 also reads 1e3) agrees.
        var expected = try #require(slow.body)
        expected.data[0].inputs?["e"] = .number(1000)
        #expect(body == expected)
    }

    @Test func failuresTakeTheSlowPath() {
        for text in ["", "{", "{\"a\":}", "[1,]", "01", "1.", "-", "\"\\x\"", "\"\\ud800\"", "\"a\u{01}\"", "tru", "{} x",
                     String(repeating: "[", count: 600) + String(repeating: "]", count: 600)] {
            let parsed: JSONValue? = JSONParser.parse(Array(text.utf8))
            #expect(parsed == Optional<JSONValue>.none, "\(text.prefix(20))")
        }
        // A body that does not match the types: the fast path gives up, the error is JSONDecoder's.
        let bad = Array(#"{"ok":true,"status":200,"body":{"data":"no"}}"#.utf8)
        guard case .failure(.invalidResponse(let status, _, let message, _)) = Envelope<CompletionResponse>.decode(bad) else {
            Issue.record("expected invalid_response")
            return
        }
        #expect(status == 200)
        #expect(message.contains("does not match"))
    }

    @Test func errorItems() throws {
        let bytes = Array(#"{"ok":false,"status":404,"error":{"type":"api_error","message":"m","status":404,"body":{"detail":"Not Found"},"headers":{"a":"b"}},"attempts":1}"#.utf8)
        guard case .success(let envelope) = Envelope<CompletionResponse>.decode(bytes),
              case .apiError(let status, _, let body, let headers, _, let attempts)? = envelope.error?.error(attempts: envelope.attempts ?? 0) else {
            Issue.record("expected an api_error")
            return
        }
        #expect(status == 404 && body == ["detail": "Not Found"] && headers == ["a": "b"] && attempts == 1)
    }
}
