#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import HumanloopCore

/// CPU seconds of this process spent in `body` (the fastest of `runs`).
private func cpuSeconds(runs: Int = 3, _ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<runs {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start)
        body()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end)
        best = min(best, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9)
    }
    return best
}

/// `{"wide":{"k0":0,...}}` with `members` members.
private func wideObject(_ members: Int) -> [UInt8] {
    var text = #"{"data":[{"index":0,"output":"x"}],"wide":{"#
    for index in 0..<members { text += (index > 0 ? "," : "") + "\"k\(index)\":\(index)" }
    return Array((text + "}}").utf8)
}

/// The cost of the work at 8× the size, as a multiple of its cost at 1× (linear: about 8,
/// quadratic: about 64). Work too fast to time at the small size is measured 4× larger.
private func growth(small: Int, _ work: (Int) -> Void) -> Double {
    var size = small
    var base = cpuSeconds { work(size) }
    while base < 0.005 && size < small * 64 {
        size *= 4
        base = cpuSeconds { work(size) }
    }
    let large = cpuSeconds { work(size * 8) }
    return large / max(base, 1e-6)
}

@Suite(.serialized) struct LinearCostTests {
    @Test func parsingAWideObjectIsLinear() {
        let ratio = growth(small: 10_000) { members in
            let bytes = wideObject(members)
            _ = try? JSONReader.parse(bytes)
        }
        #expect(ratio < 24, "parse cost grew \(ratio)x for 8x the members")
    }

    @Test func redactingAWideErrorBodyIsLinear() {
        let ratio = growth(small: 10_000) { members in
            let error = CallError.apiError(ResponseHead(status: 500, reason: "", headers: JSONObject()),
                                                body: wideObject(members), roundTripTime: 0)
            _ = JSONSerializer.bytes(of: Envelope.failure(error, attempts: 1, secrets: Secrets(["sk-secret"])))
        }
        #expect(ratio < 24, "redaction cost grew \(ratio)x for 8x the members")
    }

    @Test func decodingAndMergingAWideEventIsLinear() {
        let ratio = growth(small: 10_000) { members in
            var decoder = EventStreamDecoder(maximumEventBytes: 1 << 30)
            var merger = StreamMerger()
            let items = (try? decoder.feed(Array("data: ".utf8) + wideObject(members) + Array("\n\n".utf8))) ?? []
            for case .event(let raw) in items { if let value = try? JSONReader.parse(raw) { merger.add(value) } }
            _ = merger.body
        }
        #expect(ratio < 24, "event cost grew \(ratio)x for 8x the members")
    }

    @Test func mergingManySmallEventsIsLinear() {
        let ratio = growth(small: 20_000) { count in
            var merger = StreamMerger()
            let event = JSONValue.object(JSONObject([("data", .array([.object(JSONObject([
                ("index", .int(0)), ("output", .string("token ")), ("raw_output", .string("token ")),
            ]))]))]))
            for _ in 0..<count { merger.add(event) }
            #expect(merger.mergedTextBytes == count * 12)
        }
        #expect(ratio < 24, "merge cost grew \(ratio)x for 8x the events")
    }

    @Test func manyEventsInOneReadAreLinear() {
        let ratio = growth(small: 20_000) { count in
            var decoder = EventStreamDecoder(maximumEventBytes: 1 << 30)
            let bytes = Array(String(repeating: "data: {\"data\":[{\"index\":0,\"output\":\"a\"}]}\n\n", count: count).utf8)
            let items = (try? decoder.feed(bytes)) ?? []
            #expect(items.count == count)
        }
        #expect(ratio < 24, "decode cost grew \(ratio)x for 8x the events")
    }

    @Test func aHeadOfManyRepeatedHeadersIsLinear() {
        let ratio = growth(small: 5_000) { count in
            var parser = ResponseHeadParser()
            var line = Array("Set-Cookie: a=b\r\n".utf8)
            line.withUnsafeMutableBytes { buffer in
                for _ in 0..<count { try? parser.receive(line: UnsafeRawBufferPointer(buffer)) }
            }
        }
        #expect(ratio < 24, "head cost grew \(ratio)x for 8x the header lines")
    }
}
