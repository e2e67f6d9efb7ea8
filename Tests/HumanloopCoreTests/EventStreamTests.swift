import Testing
@testable import HumanloopCore

/// Feeds `text` to a parser in pieces of `chunk` bytes (0 = all at once), then finishes it.
private func events(_ text: String, chunk: Int = 0, finish: Bool = true) -> [String] {
    events(Array(text.utf8), chunk: chunk, finish: finish)
}

private func events(_ bytes: [UInt8], chunk: Int = 0, finish: Bool = true) -> [String] {
    var parser = ServerSentEventParser()
    var out: [ServerSentEvent] = []
    let size = chunk > 0 ? chunk : max(bytes.count, 1)
    var start = 0
    while start < bytes.count {
        let end = min(start + size, bytes.count)
        out += parser.feed(Array(bytes[start..<end]))
        start = end
    }
    if finish { out += parser.finish() }
    return out.map { String(decoding: $0.data, as: UTF8.self) }
}

/// Every split of `text` into pieces of 1...n bytes gives the same events as the whole text.
private func expectSplitInvariant(_ text: String, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    let bytes = Array(text.utf8)
    for chunk in 0...min(bytes.count, 9) {
        #expect(events(bytes, chunk: chunk) == expected, "chunk size \(chunk)", sourceLocation: sourceLocation)
    }
    // Every two-piece split, which covers a CRLF split across reads.
    for cut in 0...bytes.count {
        var parser = ServerSentEventParser()
        var out = parser.feed(Array(bytes[0..<cut]))
        out += parser.feed(Array(bytes[cut...]))
        out += parser.finish()
        #expect(out.map { String(decoding: $0.data, as: UTF8.self) } == expected, "cut at \(cut)", sourceLocation: sourceLocation)
    }
}

@Suite struct ServerSentEventParserTests {
    @Test func lineEndings() {
        expectSplitInvariant("data: a\n\ndata: b\n\n", ["a", "b"])
        expectSplitInvariant("data: a\r\n\r\ndata: b\r\n\r\n", ["a", "b"])
        expectSplitInvariant("data: a\r\rdata: b\r\r", ["a", "b"])
        expectSplitInvariant("data: a\r\n\ndata: b\n\r\n", ["a", "b"])
    }

    @Test func optionalSpaceAfterColon() {
        expectSplitInvariant("data:a\n\ndata:  b\n\n", ["a", " b"])
    }

    @Test func multiLineDataIsJoinedWithLineFeed() {
        expectSplitInvariant("data: {\"a\":\ndata: 1}\n\n", ["{\"a\":\n1}"])
        expectSplitInvariant("data\ndata\n\n", ["\n"])
    }

    @Test func commentsAndOtherFieldsAreIgnored() {
        expectSplitInvariant(": ping\nevent: completion\nid: 7\nretry: 100\ndata: x\nfoo: bar\n\n: bye\n\n", ["x"])
        expectSplitInvariant("datax: no\n\n", [])
        expectSplitInvariant("event: only\n\n", [])
    }

    @Test func lastEventWithoutBlankLineIsDeliveredAtEnd() {
        expectSplitInvariant("data: a\n\ndata: b", ["a", "b"])
        expectSplitInvariant("data: a\n\ndata: b\n", ["a", "b"])
        #expect(events("data: b", finish: false) == [])
    }

    @Test func textContainingDataMarkerIsIntact() {
        let json = #"{"data":[{"output":"here is the data: they data: x"}]}"#
        expectSplitInvariant("data: \(json)\n\n", [json])
    }

    @Test func byteOrderMarkAtStartIsSkipped() {
        expectSplitInvariant("\u{FEFF}data: a\n\n", ["a"])
        // Only at the very start.
        #expect(events("data: a\n\n\u{FEFF}data: b\n\n") == ["a"])
    }

    @Test func pendingBytesAreCounted() {
        var parser = ServerSentEventParser()
        _ = parser.feed(Array("data: 12345".utf8))
        #expect(parser.pendingByteCount == 11)
        _ = parser.feed(Array("\n".utf8))
        #expect(parser.pendingByteCount == 5)
        _ = parser.feed(Array("\n".utf8))
        #expect(parser.pendingByteCount == 0)
    }

    @Test func exampleFileEventsInOneByteReads() throws {
        let example = """
        data: {"data":[{"id":"d","index":0,"output":"Llamas","finish_reason":null}]}

        data: {"data":[{"id":"d","index":0,"output":" data: x","finish_reason":"stop"}]}


        """
        let parsed = events(Array(example.utf8), chunk: 1)
        #expect(parsed.count == 2)
        #expect(parsed[1].contains(" data: x"))
    }
}

@Suite struct EventStreamDecoderTests {
    private func decode(_ text: String, limit: Int = 1 << 20) throws(CallError) -> [StreamItem] {
        var decoder = EventStreamDecoder(maximumEventBytes: limit)
        var items: [StreamItem] = []
        for byte in text.utf8 { items += try decoder.feed([byte]) }
        items += try decoder.finish()
        return items
    }

    @Test func eventsThenDoneMarker() throws {
        let items = try decode("data: {\"a\":1}\n\ndata: [DONE]\n\ndata: {\"b\":2}\n\n")
        #expect(items.count == 2)
        if case .event(let raw) = items[0] {
            #expect(raw == Array("{\"a\":1}".utf8))
        } else { Issue.record("first item is not an event") }
        if case .done = items[1] {} else { Issue.record("second item is not the end marker") }
    }

    @Test func nonJSONEventIsAnInvalidResponse() {
        #expect(throws: CallError.self) { try decode("data: {\"a\":1}\n\ndata: oops\n\n") }
        do {
            _ = try decode("data: {\"a\":1}\n\ndata: oops\n\n")
        } catch {
            #expect(error.typeName == "invalid_response")
            #expect(error.message.hasPrefix("event 2 of the stream is not JSON"))
        }
    }

    @Test func nonObjectEventIsAnInvalidResponse() {
        do {
            _ = try decode("data: [1,2]\n\n")
            Issue.record("no error")
        } catch {
            #expect(error.message == "event 1 of the stream is an array, not a JSON object")
        }
    }

    @Test func oversizedEventIsRejected() {
        do {
            _ = try decode("data: \"" + String(repeating: "x", count: 100) + "\"\n\n", limit: 50)
            Issue.record("no error")
        } catch {
            #expect(error.typeName == "invalid_response")
            #expect(error.message.contains("max_response_bytes"))
        }
    }
}

@Suite struct EventStreamDecoderNoLossTests {
    @Test func goodEventsBeforeABadOneInTheSameReadAreKept() throws {
        var decoder = EventStreamDecoder(maximumEventBytes: 1 << 20)
        let items = try decoder.feed(Array("data: {\"a\":1}\n\ndata: nope\n\ndata: {\"b\":2}\n\n".utf8))
        #expect(items.count == 1)
        #expect(decoder.failure?.message == "event 2 of the stream is not JSON: invalid token near 'nope' at byte 4")
        #expect(throws: CallError.self) { try decoder.feed(Array("data: {}\n\n".utf8)) }
        #expect(throws: CallError.self) { try decoder.finish() }
    }
}
