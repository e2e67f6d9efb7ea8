import CJansson
import Testing
@testable import HumanloopCore

@Suite struct JSONParserTests {
    @Test func keepsNumbersAsWritten() throws {
        let text = #"{"a":0.7,"b":-1,"c":1e-7,"d":123456789012345678901234567890,"e":2.0,"f":-0.0}"#
        let value = try JSONParser.parse(text)
        #expect(JSONSerializer.string(of: value) == text)
    }

    @Test func keepsKeyOrderAndRawUTF8() throws {
        let text = #"{"z":"日本語 é","a":[true,false,null],"m":{"k":"\"q\"\\\n"}}"#
        let value = try JSONParser.parse(text)
        #expect(JSONSerializer.string(of: value) == text)
        #expect(value["z"] == .string("日本語 é"))
    }

    @Test func decodesEscapes() throws {
        let value = try JSONParser.parse(#"["\u00e9\ud83d\ude00\/\b\f\t\r\n\u0001"]"#)
        #expect(value == .array([.string("é😀/\u{8}\u{c}\t\r\n\u{1}")]))
        #expect(JSONSerializer.string(of: value) == #"["é😀/\b\f\t\r\n\u0001"]"#)
    }

    @Test(arguments: [
        ("", "unexpected end of input at byte 0"),
        ("{", "unexpected end of input in an object at byte 1"),
        ("{\"a\" 1}", "expected ':' after an object key at byte 5"),
        ("[1,]", "unexpected character ']' at byte 3"),
        ("01", "leading zeros are not allowed in numbers at byte 1"),
        ("1.", "expected a digit after the decimal point at byte 2"),
        ("{} x", "unexpected data after the JSON value at byte 3"),
        ("\"\\ud800\"", "lone surrogate in a \\u escape at byte 7"),
        ("\"a\u{1}\"", "unescaped control character in a string at byte 2"),
        ("nul", "invalid literal (expected null) at byte 0"),
        ("{'a':1}", "expected a string key in an object at byte 1"),
    ])
    func rejectsMalformedInput(text: String, expected: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
        do { _ = try JSONParser.parse(text) } catch { #expect(error.description == expected) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0x61, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xC3, 0x22]) }
    }

    @Test func limitsNesting() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        _ = try JSONParser.parse(fine)
    }

    @Test func duplicateKeysKeepTheLastValueInTheFirstPlace() throws {
        let value = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(JSONSerializer.string(of: value) == #"{"a":3,"b":2}"#)
    }

    /// Differential check against jansson: both accept or both reject, and accepted documents
    /// mean the same thing.
    @Test(arguments: [
        #"{"a":[1,2.5,-3e2,true,false,null,"x\u00e9"]}"#, "[]", "{}", "\"s\"", "0", "-0.0e+1",
        "[1,]", "{\"a\":}", "[\"\\x\"]", "[01]", "[1.e5]", "[\"\u{7f}\"]", "{\"a\":1}{", " [ 1 , 2 ] ",
        "[\"\\ud83d\\ude00\"]", "[\"\\udc00\"]", "[true false]", "[-]", "[1e]", "[\"\t\"]",
    ])
    func agreesWithJansson(text: String) throws {
        var error = json_error_t()
        let reference = json_loads(text, Int(JSON_DECODE_ANY), &error)
        defer { if let reference { json_decref(reference) } }
        let ours = try? JSONParser.parse(text)
        #expect((ours != nil) == (reference != nil), "parity for \(text)")
        if let ours, let reference {
            let dumped = json_dumps(reference, Int(JSON_COMPACT | JSON_ENCODE_ANY) | (17 << 11) /* JSON_REAL_PRECISION(17) */)
            defer { free(dumped) }
            let roundTrip = try JSONParser.parse(String(cString: dumped!))
            #expect(ours.shapeMatches(roundTrip))
        }
    }
}

extension JSONValue {
    /// Same structure and strings, numbers compared as doubles.
    func shapeMatches(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.number(let a), .number(let b)): return a.doubleValue == b.doubleValue
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.shapeMatches($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value.shapeMatches($1.value) }
        default: return false
        }
    }
}
