import CJansson
import Testing
@testable import HumanloopCore

/// The quick check in front of jansson: whatever it accepts, jansson accepts with the same type.
@Suite struct JSONValidatorTests {
    /// What `JSONReader.check` asks jansson (the same flags, the same retry for big integers).
    static func janssonTypeName(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { buffer -> String? in
            let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            var error = json_error_t()
            let flags = Int(JSON_DECODE_ANY | JSON_ALLOW_NUL)
            guard let root = json_loadb(base, buffer.count, flags, &error)
                ?? json_loadb(base, buffer.count, flags | Int(JSON_DECODE_INT_AS_REAL), &error) else { return nil }
            defer { json_decref(root) }
            return JanssonValue(json: root).typeName
        }
    }

    static func validatorTypeName(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { JSONValidator.typeName(of: $0) }
    }

    /// The validator's answer, checked against jansson's when it accepts.
    static func checked(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let name = validatorTypeName(bytes)
        if let name {
            #expect(janssonTypeName(bytes) == name, "\(String(decoding: bytes, as: UTF8.self).debugDescription)",
                    sourceLocation: sourceLocation)
        }
        return name
    }

    @Test func acceptsWhatTheServerSends() {
        let answers = [
            #"{"data":[{"id":"data_1","index":0,"output":"Hello","raw_output":"Hello","inputs":{"q":"Hi"},"model_config_id":"config_1","finish_reason":"stop","logprobs":[-0.5,1e-5,2.5E+3,0]}],"provider_responses":[{}],"num_samples":1,"usage":{"prompt_tokens":1,"generation_tokens":2,"total_tokens":3},"user":null,"ok":true,"flag":false}"#,
            " \t\r\n{ \"a\" : [ 1 , -0 , 0.5 , \"é日本😀\" , \"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\\"\\\\\" , \"\\u0000\" ] } \n",
            "[]", "{}", "[[[]]]", #""text""#, "true", "false", "null", "[1e200,-1E-200,123456789012345678901234567890]",
        ]
        for answer in answers {
            let bytes = Array(answer.utf8)
            #expect(Self.checked(bytes) != nil, "\(answer)")
        }
        #expect(Self.checked(Array("{}".utf8)) == "object")
        #expect(Self.checked(Array("[1]".utf8)) == "array")
        #expect(Self.checked(Array(#" "s" "#.utf8)) == "string")
        #expect(Self.checked(Array("false".utf8)) == "boolean")
        #expect(Self.checked(Array("null".utf8)) == "null")
    }

    @Test func leavesToJanssonWhatJanssonMayRefuse() {
        let cases: [[UInt8]] = [
            Array(#"{"k\u0000":1}"#.utf8),                            // NUL in a key
            Array("[1e201]".utf8), Array("[1e999]".utf8), Array("[1e0200]".utf8),
            Array(("[" + String(repeating: "9", count: 101) + "e1]").utf8),
            Array(("[" + String(repeating: "9", count: 301) + "]").utf8),
            Array("42".utf8), Array("-1.5".utf8),                         // a number as the document
            Array((String(repeating: "[", count: 513) + String(repeating: "]", count: 513)).utf8),
        ]
        for bytes in cases { #expect(Self.validatorTypeName(bytes) == nil, "\(String(decoding: bytes, as: UTF8.self))") }
        // Just inside the limits: accepted (and jansson agrees).
        #expect(Self.checked(Array("[1e200]".utf8)) == "array")
        #expect(Self.checked(Array(("[" + String(repeating: "9", count: 300) + "]").utf8)) == "array")
        #expect(Self.checked(Array((String(repeating: "[", count: 512) + String(repeating: "]", count: 512)).utf8)) == "array")
    }

    @Test func refusesWhatIsNotJSON() {
        let texts = [
            "", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{'a':1}", "[01]", "[-]", "[1.]",
            "[.5]", "[1e]", "[1e+]", "[+1]", "[0x10]", "[NaN]", "[Infinity]", "[tru]", "[truex]", "[nul]", "{}{}", "{} x",
            "[\"a\" \"b\"]", "{\"a\" 1}", "[\"\\x\"]", "[\"\\u12\"]", "[\"\\u12G4\"]", "[\"\\ud800\"]", "[\"\\udc00\"]",
            "[\"\\ud800\\u0041\"]", "[\"unterminated]", "\u{FEFF}{}",
        ]
        for text in texts { #expect(Self.validatorTypeName(Array(text.utf8)) == nil, "\(text.debugDescription)") }
        let badBytes: [[UInt8]] = [
            [0x5B, 0x22, 0x01, 0x22, 0x5D],             // a control character in a string
            [0x5B, 0x22, 0x00, 0x22, 0x5D],             // a NUL byte
            [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D],       // overlong "/"
            [0x5B, 0x22, 0xE0, 0x80, 0xAF, 0x22, 0x5D], // overlong, three bytes
            [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D], // an encoded surrogate
            [0x5B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x5D], // past U+10FFFF
            [0x5B, 0x22, 0xF5, 0x80, 0x80, 0x80, 0x22, 0x5D],
            [0x5B, 0x22, 0x80, 0x22, 0x5D],             // a continuation byte alone
            [0x5B, 0x22, 0xE6, 0x97, 0x22, 0x5D],       // a truncated sequence
            [0x5B, 0x22, 0xFF, 0x22, 0x5D],
        ]
        for bytes in badBytes {
            #expect(Self.validatorTypeName(bytes) == nil, "\(bytes)")
            #expect(Self.janssonTypeName(bytes) == nil, "\(bytes)")
        }
    }

    /// Random documents and random damage to them: the validator never accepts what jansson
    /// refuses, and accepts every undamaged document inside its limits.
    @Test func agreesWithJanssonOnRandomDocuments() {
        var random = SplitMix(seed: 0x5EED_1234)
        var accepted = 0
        var damagedAccepted = 0
        for _ in 0..<20_000 {
            var text: [UInt8] = []
            Self.randomValue(into: &text, depth: 0, random: &random)
            let document = random.next() % 2 == 0 ? Array("{\"k\":".utf8) + text + [UInt8(ascii: "}")] : text
            if Self.checked(document) != nil { accepted += 1 }
            var damaged = document
            for _ in 0..<(1 + Int(random.next() % 3)) {
                guard !damaged.isEmpty else { break }
                let position = Int(random.next() % UInt64(damaged.count))
                switch random.next() % 4 {
                case 0: damaged.remove(at: position)
                case 1: damaged.insert(Self.noise[Int(random.next() % UInt64(Self.noise.count))], at: position)
                case 2: damaged[position] = Self.noise[Int(random.next() % UInt64(Self.noise.count))]
                default: damaged.insert(contentsOf: damaged[position...].prefix(3), at: position)
                }
            }
            if Self.checked(damaged) != nil { damagedAccepted += 1 }
        }
        // Most undamaged documents are inside the validator's limits (the others go to jansson).
        #expect(accepted > 15_000)
        #expect(damagedAccepted > 100)
    }

    static let noise: [UInt8] = Array(#"{}[],:"\ u0eE.+-19tfnlsa"#.utf8) + [0x00, 0x01, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xA9, 0xE2, 0xED, 0xF0, 0xF4, 0xF5, 0xFF]

    static func randomValue(into text: inout [UInt8], depth: Int, random: inout SplitMix) {
        let choice = depth > 4 ? 4 + random.next() % 6 : random.next() % 10
        switch choice {
        case 0, 1:
            text.append(UInt8(ascii: "{"))
            for index in 0..<Int(random.next() % 4) {
                if index > 0 { text.append(UInt8(ascii: ",")) }
                randomString(into: &text, random: &random)
                text.append(contentsOf: Array(random.next() % 2 == 0 ? ":".utf8 : " : ".utf8))
                randomValue(into: &text, depth: depth + 1, random: &random)
            }
            text.append(UInt8(ascii: "}"))
        case 2, 3:
            text.append(UInt8(ascii: "["))
            for index in 0..<Int(random.next() % 4) {
                if index > 0 { text.append(contentsOf: Array(random.next() % 2 == 0 ? ",".utf8 : " ,\n".utf8)) }
                randomValue(into: &text, depth: depth + 1, random: &random)
            }
            text.append(UInt8(ascii: "]"))
        case 4, 5:
            randomString(into: &text, random: &random)
        case 6, 7:
            let numbers = ["0", "-0", "1", "-12", "3.25", "1e5", "-2.5E-3", "1e+200", "123456789012345678901234567890", "0.000001",
                           "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1E200", "6.02e23"]
            text.append(contentsOf: Array(numbers[Int(random.next() % UInt64(numbers.count))].utf8))
        default:
            let words = ["true", "false", "null"]
            text.append(contentsOf: Array(words[Int(random.next() % 3)].utf8))
        }
    }

    static func randomString(into text: inout [UInt8], random: inout SplitMix) {
        let pieces = ["a", "bc", " ", "é", "日本", "😀", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00", "\\u0000", "\\t", "x y"]
        text.append(UInt8(ascii: "\""))
        for _ in 0..<Int(random.next() % 5) { text.append(contentsOf: Array(pieces[Int(random.next() % UInt64(pieces.count))].utf8)) }
        text.append(UInt8(ascii: "\""))
    }
}

/// A small deterministic generator (SplitMix64), so that a failure repeats.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
