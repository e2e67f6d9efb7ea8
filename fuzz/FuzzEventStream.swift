// libFuzzer harness: the SSE parser and event decoder fed arbitrary bytes in arbitrary splits.
// The first byte chooses the split sizes; the result must not depend on how the bytes were split.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventStream(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let seed = Int(data[0])
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let whole = decode(body, splits: [body.count])
    var splits: [Int] = []
    var state = seed &* 2654435761 &+ 1
    var total = 0
    while total < body.count {
        state = state &* 1103515245 &+ 12345
        let piece = 1 + (abs(state >> 8) % 7)
        splits.append(piece)
        total += piece
    }
    let pieces = decode(body, splits: splits)
    if whole != pieces { fatalError("split-dependent result: \(whole) vs \(pieces)") }
    return 0
}

private func decode(_ body: [UInt8], splits: [Int]) -> [String] {
    var decoder = EventStreamDecoder(maximumEventBytes: 1 << 20)
    var outputs: [String] = []
    var offset = 0
    func record(_ items: [StreamItem]) {
        for item in items {
            switch item {
            case .event(let raw):
                // The decoder checked it: jansson must read it as an object again.
                guard case .object(let object)? = try? JSONReader.parse(raw) else { fatalError("event is not an object") }
                outputs.append(JSONSerializer.string(of: .object(object)) + "|" + String(decoding: raw, as: UTF8.self))
            case .done: outputs.append("[DONE]")
            }
        }
    }
    do throws(CallError) {
        for split in splits where offset < body.count {
            let end = min(body.count, offset + split)
            record(try decoder.feed(Array(body[offset..<end])))
            offset = end
        }
        record(try decoder.finish())
    } catch {
        outputs.append("error: \(error.message)")
    }
    return outputs
}
