import Testing
@testable import HumanloopCore

private func parse(_ lines: [String]) -> Result<ResponseHeadParser, CallError> {
    var parser = ResponseHeadParser()
    for line in lines {
        var bytes = Array(line.utf8)
        let result: Result<Void, CallError> = bytes.withUnsafeMutableBytes { buffer in
            do throws(CallError) {
                try parser.receive(line: UnsafeRawBufferPointer(buffer))
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = result { return .failure(error) }
    }
    return .success(parser)
}

@Suite struct ResponseHeadParserTests {
    @Test func readsStatusReasonAndHeaders() throws {
        let parser = try parse(["HTTP/1.1 100 Continue\r\n", "\r\n", "HTTP/1.1 503 Service Unavailable\r\n",
                                "Retry-After: 5\r\n", "X-A: 1\r\n", "x-a:  2 \r\n", "\r\n"]).get()
        #expect(parser.isComplete)
        #expect(parser.status == 503)
        #expect(parser.reason == "Service Unavailable")
        #expect(parser.headers == JSONObject([("retry-after", .string("5")), ("x-a", .string("1, 2"))]))
    }

    @Test func linesWhoseNameIsNotATokenAreDropped() throws {
        let parser = try parse(["HTTP/1.1 200 OK\r\n", "X\u{0}Y: 1\r\n", ": empty\r\n", "Bad Name: 2\r\n", "Good: 3\r\n", "\r\n"]).get()
        #expect(parser.headers == JSONObject([("good", .string("3"))]))
    }

    @Test func hostileStatusLinesAreInvalidResponsesNotTraps() {
        for line in ["HTTP/1.1 99999999999999999999 Big", "HTTP/1.1 -200 Neg", "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK",
                     "HTTP/1.1 +20 OK", "HTTP/1.1", "HTTP/1.1 ２00 OK", "HTTP/1.1 099 Low", "HTTP/1.1 1e2 X"] {
            guard case .failure(let error) = parse([line + "\r\n"]) else {
                Issue.record("accepted \(line)")
                continue
            }
            #expect(error.typeName == "invalid_response")
        }
    }

    @Test func theHeadIsBounded() {
        let line = "X-Big: " + String(repeating: "a", count: 1000) + "\r\n"
        let lines = ["HTTP/1.1 200 OK\r\n"] + Array(repeating: line, count: 1100)
        guard case .failure(let error) = parse(lines) else {
            Issue.record("a 1.1 MB head was accepted")
            return
        }
        #expect(error.message.contains("exceeds"))
    }
}
