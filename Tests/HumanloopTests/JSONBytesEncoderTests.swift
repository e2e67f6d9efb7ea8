import Foundation
import Testing
@testable import Humanloop

/// The fast path of encoding requests (JSONBytesEncoder) writes what Foundation's JSONEncoder
/// writes (JSON-equal; key order may differ), and gives up (nil) on what it does not handle, so
/// that `requestJSON` falls back to JSONEncoder.
@Suite struct JSONBytesEncoderTests {
    static func foundation<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// Both encoders' texts, parsed: equal values.
    static func expectSame<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = try #require(JSONBytesEncoder.encode(value), sourceLocation: sourceLocation)
        let slow = try foundation(value)
        let fastValue = JSONParser.parse(fast)
        #expect(fastValue != nil, "not JSON: \(String(decoding: fast, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(fastValue == JSONParser.parse(slow),
                "\(String(decoding: fast, as: UTF8.self)) vs \(String(decoding: slow, as: UTF8.self))", sourceLocation: sourceLocation)
    }

    static let config = ModelConfigCompletionRequest(
        model: "gpt-3.5-turbo-instruct", promptTemplate: "Answer.\n\nQ: {{question}}\nA:", description: "d", name: "n",
        provider: .openai, maxTokens: 64, temperature: 0.7, topP: 1, stop: .multiple(["\nQ:", "\u{1}"]),
        presencePenalty: -0.5, frequencyPenalty: 1e-7, other: ["best_of": 1, "x": [1.5, true, nil, "s", ["k": []]]],
        endpoint: .complete)

    static let keys = ProviderApiKeys(openai: "sk-1", ai21: "a", mock: "m", anthropic: "an", cohere: "c",
                                      openaiAzure: "az", openaiAzureEndpoint: "https://x/", extra: ["newco": "k"])

    @Test func everyRequestType() throws {
        let inputs: [String: JSONValue] = ["question": "Why? ☀️ \"q\" /slash \\ \u{7f}", "n": 3, "big": .integer(.max), "neg": .integer(.min)]
        let metadata: [String: JSONValue] = ["channel": "web", "nested": ["x": [1.5, true, nil]], "e": .number(1e300)]
        try Self.expectSame(CompletionRequest(project: "p", projectId: "pid", modelConfig: Self.config, sessionId: "s",
                                              sessionReferenceId: "sr", parentId: "pa", parentReferenceId: "pr", inputs: inputs,
                                              source: "src", metadata: metadata, providerApiKeys: Self.keys, numSamples: 2,
                                              logprobs: 1, stream: true, suffix: "", user: "u"))
        try Self.expectSame(CompletionRequest(modelConfig: ModelConfigCompletionRequest(model: "m", promptTemplate: "t", stop: .single("x"))))
        try Self.expectSame(CompletionDeployedRequest(project: "p", environment: "production", inputs: inputs, metadata: metadata,
                                                      providerApiKeys: ProviderApiKeys(), numSamples: 1, stream: false))
        try Self.expectSame(CompletionExperimentRequest(projectId: "pid", experimentId: "exp", inputs: [:], metadata: [:],
                                                        providerApiKeys: Self.keys))
        try Self.expectSame(CompletionModelConfigRequest(project: "p", modelConfigId: "config", sessionId: "s",
                                                         providerApiKeys: ProviderApiKeys(extra: ["a": "b"]), user: "u"))
        // The request of the documentation's example, byte for byte (one member per object but the
        // top ones, whose order is the declaration order in both encoders).
        let one = CompletionDeployedRequest(project: "p", inputs: ["q": "Hi"])
        #expect(JSONBytesEncoder.encode(one) == Array(#"{"project":"p","inputs":{"q":"Hi"}}"#.utf8))
    }

    @Test func stringsAndNumbersAsJSONEncoderWritesThem() throws {
        var every = ""
        for scalar in (0...0x7f).compactMap(Unicode.Scalar.init) { every.unicodeScalars.append(scalar) }
        for text in [every, "", "é😀\u{10FFFF}\u{2028}", "/\\\"", "a\u{0}b"] {
            #expect(JSONBytesEncoder.encode(text) == (try Self.foundation(text)), "\(text.debugDescription)")
        }
        for number in [0.7, 1e-7, 3.0, -0.0, 0.1 + 0.2, 1e300, -1e-300, Double.leastNonzeroMagnitude,
                       Double.greatestFiniteMagnitude, 123456789012345678.0, 2.5e-5, 1e16, 1e15] {
            #expect(JSONBytesEncoder.encode(number) == (try Self.foundation(number)), "\(number)")
            #expect(JSONParser.parse(JSONBytesEncoder.encode(number) ?? []) != nil, "\(number)")
        }
        for number: Float in [0.7, 1e-7, 3, 16_777_216, .greatestFiniteMagnitude] {
            #expect(JSONBytesEncoder.encode(number) == (try Self.foundation(number)), "\(number)")
        }
        #expect(JSONBytesEncoder.encode([Int8.min, 0, 127]) == Array("[-128,0,127]".utf8))
        #expect(JSONBytesEncoder.encode([UInt64.max]) == (try Self.foundation([UInt64.max])))
        #expect(JSONBytesEncoder.encode([Int16(-2), 3]) == (try Self.foundation([Int16(-2), 3])))
        #expect(JSONBytesEncoder.encode([UInt8(7), 255]) == (try Self.foundation([UInt8(7), 255])))
        #expect(JSONBytesEncoder.encode([true, false]) == Array("[true,false]".utf8))
        #expect(JSONBytesEncoder.quoted("X-Id: \"7\"\\\u{1}é") == #""X-Id: \"7\"\\\u0001é""#)
        #expect(JSONBytesEncoder.encode([JSONValue.null, [:], []]) == Array("[null,{},[]]".utf8))
        #expect(JSONBytesEncoder.encode([String?.none, "a"]) == (try Self.foundation([String?.none, "a"])))
    }

    /// Random JSON values (the free-form fields), against JSONEncoder.
    @Test func randomValues() throws {
        var random = SystemRandomNumberGenerator()
        func value(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &random) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &random))
            case 2: return .integer(Int64.random(in: .min ... .max, using: &random))
            case 3:
                let number = Double(bitPattern: UInt64.random(in: 0 ... .max, using: &random))
                return .number(number.isFinite ? number : 0.5)
            case 4: return .string(String((0..<Int.random(in: 0..<8, using: &random)).map { _ in
                Character(Unicode.Scalar(UInt8.random(in: 0...127, using: &random)))
            }) + "é")
            case 5: return .array((0..<Int.random(in: 0..<4, using: &random)).map { _ in value(depth + 1) })
            default:
                var members: [String: JSONValue] = [:]
                for index in 0..<Int.random(in: 0..<4, using: &random) { members["k\(index)\u{1}\""] = value(depth + 1) }
                return .object(members)
            }
        }
        for _ in 0..<2_000 {
            let sample = value(0)
            try Self.expectSame(sample)
            try Self.expectSame(CompletionDeployedRequest(project: "p", inputs: ["v": sample], metadata: ["w": sample]))
        }
    }

    // MARK: What the fast path leaves to JSONEncoder

    struct Nested: Encodable {
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: DynamicCodingKey.self)
            var inner = container.nestedContainer(keyedBy: DynamicCodingKey.self, forKey: DynamicCodingKey(stringValue: "a"))
            try inner.encode(1, forKey: DynamicCodingKey(stringValue: "b"))
        }
    }

    struct Empty: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    struct Twice: Encodable {
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(1)
            try container.encode(2)
        }
    }

    struct Mixed: Encodable {
        func encode(to encoder: any Encoder) throws {
            var keyed = encoder.container(keyedBy: DynamicCodingKey.self)
            try keyed.encode(1, forKey: DynamicCodingKey(stringValue: "a"))
            var unkeyed = encoder.unkeyedContainer()
            try unkeyed.encode(2)
        }
    }

    struct Super: Encodable {
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: DynamicCodingKey.self)
            try "x".encode(to: container.superEncoder())
        }
    }

    @Test func otherShapesFallBack() throws {
        #expect(JSONBytesEncoder.encode(Nested()) == nil)
        #expect(JSONBytesEncoder.encode(["n": Nested()]) == nil)
        #expect(JSONBytesEncoder.encode(Empty()) == nil)
        #expect(JSONBytesEncoder.encode(Twice()) == nil)
        #expect(JSONBytesEncoder.encode(Mixed()) == nil)
        #expect(JSONBytesEncoder.encode(Super()) == nil)
        #expect(JSONBytesEncoder.encode([Date(timeIntervalSince1970: 0)]) == nil)
        #expect(JSONBytesEncoder.encode(["u": URL(fileURLWithPath: "/x")]) == nil)
        #expect(JSONBytesEncoder.encode([Decimal(1)]) == nil)
        #expect(JSONBytesEncoder.encode([Data([1])]) == nil)
        // The request itself still encodes, through JSONEncoder (here: the nested object).
        let nested = try HumanloopClient.requestJSON(["n": Nested()])
        #expect(JSONParser.parse(nested) == ["n": ["a": ["b": 1]]])
    }

    /// Numbers JSON cannot write fail the fast path; requestJSON then throws an invalid request
    /// made of JSONEncoder's error.
    @Test func nonFiniteNumbersThrowJSONEncodersError() {
        for number in [Double.nan, .infinity, -.infinity] {
            #expect(JSONBytesEncoder.encode([number]) == nil)
            #expect(JSONBytesEncoder.encode(Float(number)) == nil)
            let request = CompletionRequest(modelConfig: ModelConfigCompletionRequest(model: "m", promptTemplate: "t", temperature: number))
            #expect(JSONBytesEncoder.encode(request) == nil)
            #expect(throws: HumanloopError.self) { try HumanloopClient.requestJSON(request) }
        }
    }

    /// Deep nesting is left to JSONEncoder (no deep recursion here).
    @Test func deepNestingFallsBack() throws {
        func nested(_ levels: Int) -> JSONValue {
            var value = JSONValue.null
            for _ in 0..<levels { value = .array([value]) }
            return value
        }
        #expect(JSONBytesEncoder.encode(nested(100)) == Array((String(repeating: "[", count: 100) + "null" + String(repeating: "]", count: 100)).utf8))
        #expect(JSONBytesEncoder.encode(nested(JSONBytesEncoder.ValueEncoder.maximumDepth)) == nil)
    }
}
