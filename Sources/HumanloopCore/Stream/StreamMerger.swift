/// Merges the events of a consumed stream into one `CompletionResponse`-like body.
///
/// Per sample (`data[].index`, else `id`): `output` and `raw_output` concatenated in arrival
/// order, the last event's `finish_reason`, the other fields from the sample's last event.
/// Top-level fields come from the last event. Samples keep the order they first appeared in.
public struct StreamMerger: Sendable {
    private struct Sample {
        var key: String
        var item: JSONObject
        var output: String?
        var rawOutput: String?
    }

    private var samples: [Sample] = []
    /// Position of each sample key in `samples`.
    private var sampleIndex: [String: Int] = [:]
    private var topLevel = JSONObject()
    /// UTF-8 bytes of the merged `output` and `raw_output` texts so far.
    public private(set) var mergedTextBytes = 0

    public init() {}

    /// Adds one event object. Costs time linear in the size of the event: texts are appended
    /// in place, samples are found by hash.
    public mutating func add(_ event: JSONValue) {
        guard case .object(let object) = event else { return }
        for member in object where member.key != "data" { topLevel[member.key] = member.value }
        for element in object["data"]?.arrayValue ?? [] {
            guard case .object(let item) = element else { continue }
            let key = Self.sampleKey(item)
            let index: Int
            if let known = sampleIndex[key] {
                index = known
            } else {
                index = samples.count
                samples.append(Sample(key: key, item: JSONObject()))
                sampleIndex[key] = index
            }
            for member in item { samples[index].item[member.key] = member.value }
            if case .string(let piece) = item["output"] {
                Self.append(piece, to: &samples[index].output)
                mergedTextBytes += piece.utf8.count
            }
            if case .string(let piece) = item["raw_output"] {
                Self.append(piece, to: &samples[index].rawOutput)
                mergedTextBytes += piece.utf8.count
            }
        }
    }

    /// The merged body.
    public var body: JSONValue {
        var object = JSONObject([("data", .array(samples.map { sample in
            var item = sample.item
            if let output = sample.output { item["output"] = .string(output) }
            if let rawOutput = sample.rawOutput { item["raw_output"] = .string(rawOutput) }
            return .object(item)
        }))])
        for member in topLevel { object[member.key] = member.value }
        return .object(object)
    }

    /// Appends in place (no copy of the text so far).
    private static func append(_ piece: String, to text: inout String?) {
        if text == nil { text = piece } else { text?.append(piece) }
    }

    private static func sampleKey(_ item: JSONObject) -> String {
        if case .number(let index) = item["index"] { return "index:" + index.text }
        if case .string(let id) = item["id"] { return "id:" + id }
        return "index:0"
    }
}
