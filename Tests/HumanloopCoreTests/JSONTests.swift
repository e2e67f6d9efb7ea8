import Testing
@testable import HumanloopCore

/// The JSON reader (jansson) and the serializer.
@Suite struct JSONReaderTests {
    @Test func writesNumbersAsPythonRepr() throws {
        let value = try JSONReader.parse(#"{"a":0.70,"b":-1,"c":1e-7,"d":1E+2,"e":2.0,"f":-0.0,"g":1e20,"h":0.30000000000000004}"#)
        #expect(JSONSerializer.string(of: value) == #"{"a":0.7,"b":-1,"c":1e-07,"d":100.0,"e":2.0,"f":-0.0,"g":1e+20,"h":0.30000000000000004}"#)
    }

    @Test func integersBeyond64BitsFailOrBecomeDoubles() throws {
        let text = #"{"n":123456789012345678901234567890,"i":2}"#
        #expect(throws: JSONParseError.self) { try JSONReader.parse(text, bigIntegers: .fail) }
        do { _ = try JSONReader.parse(text, bigIntegers: .fail) } catch { #expect(error.isNumericOverflow) }
        // Read as doubles (every integer of that document), for answers and the configuration.
        #expect(JSONSerializer.string(of: try JSONReader.parse(text)) == #"{"n":1.2345678901234568e+29,"i":2.0}"#)
        #expect(JSONSerializer.string(of: try JSONReader.parse(#"{"i":2}"#)) == #"{"i":2}"#)
    }

    @Test func keepsKeyOrderAndRawUTF8() throws {
        let text = #"{"z":"日本語 é","a":[true,false,null],"m":{"k":"\"q\"\\\n"}}"#
        let value = try JSONReader.parse(text)
        #expect(JSONSerializer.string(of: value) == text)
        #expect(value["z"] == .string("日本語 é"))
    }

    @Test func decodesEscapesAndKeepsNUL() throws {
        let value = try JSONReader.parse(#"["\u00e9\ud83d\ude00\/\b\f\t\r\n\u0001\u0000"]"#)
        #expect(value == .array([.string("é😀/\u{8}\u{c}\t\r\n\u{1}\u{0}")]))
        #expect(JSONSerializer.string(of: value) == #"["é😀/\b\f\t\r\n\u0001\u0000"]"#)
    }

    @Test(arguments: ["", "{", "{\"a\" 1}", "[1,]", "01", "1.", "{} x", "\"\\ud800\"", "\"a\u{1}\"", "nul", "{'a':1}",
                      "[\"\\x\"]", "[1.e5]", "[true false]", "[-]", "[1e]", "[\"\t\"]"])
    func rejectsMalformedInput(text: String) {
        #expect(throws: JSONParseError.self) { try JSONReader.parse(text) }
        #expect(throws: JSONParseError.self) { try JSONReader.check(Array(text.utf8)) }
    }

    @Test func errorsSayWhereInJanssonsWords() {
        do {
            _ = try JSONReader.parse(#"{"a":}"#)
            Issue.record("accepted")
        } catch {
            #expect(error.description == "unexpected token near '}' at byte 6")
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONReader.parse([0x22, 0x61, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONReader.parse([0x22, 0xC3, 0x22]) }
    }

    @Test func limitsNesting() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONParseError.self) { try JSONReader.parse(deep) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        _ = try JSONReader.parse(fine)
        let hostile = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONReader.check(Array(hostile.utf8)) }
    }

    @Test func duplicateKeysKeepTheLastValueInTheFirstPlace() throws {
        let value = try JSONReader.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(JSONSerializer.string(of: value) == #"{"a":3,"b":2}"#)
    }

    @Test func checkNamesTheType() throws {
        #expect(try JSONReader.check(Array(#" {"a":1} "#.utf8)) == "object")
        #expect(try JSONReader.check(Array("[1]".utf8)) == "array")
        #expect(try JSONReader.check(Array("12".utf8)) == "integer")
        #expect(try JSONReader.check(Array("1.5".utf8)) == "number")
        #expect(try JSONReader.check(Array("123456789012345678901234567890".utf8)) == "number")
        #expect(try JSONReader.check(Array("\"s\"".utf8)) == "string")
        #expect(try JSONReader.check(Array("null".utf8)) == "null")
    }

    @Test func locatesTheNumberOutOfRange() throws {
        func path(_ text: String) -> String {
            do {
                _ = try JSONReader.parse(text, bigIntegers: .fail)
                return "accepted"
            } catch {
                return Array(text.utf8).withUnsafeBytes { JSONPathLocator.pathOfNumber(before: error.offset, in: $0) }
            }
        }
        #expect(path(#"{"model_config":{"model":"m","max_tokens":99999999999999999999999}}"#) == "model_config.max_tokens")
        #expect(path(#"{"a":[1,2,{"b\"c":[0,1e400]}]}"#) == #"a[2].b\"c[1]"#)
        #expect(path(#"{"n": -99999999999999999999 , "m": 1}"#) == "n")
        #expect(path("99999999999999999999") == "")
    }
}
