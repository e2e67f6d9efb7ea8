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
    private var topLevel = JSONObject()

    public init() {}

    /// Adds one event object.
    public mutating func add(_ event: JSONValue) {
        guard case .object(let object) = event else { return }
        for member in object where member.key != "data" { topLevel[member.key] = member.value }
        for element in object["data"]?.arrayValue ?? [] {
            guard case .object(let item) = element else { continue }
            let key = Self.sampleKey(item)
            let index = samples.firstIndex { $0.key == key } ?? {
                samples.append(Sample(key: key, item: JSONObject()))
                return samples.count - 1
            }()
            var sample = samples[index]
            for member in item { sample.item[member.key] = member.value }
            if case .string(let piece) = item["output"] { sample.output = (sample.output ?? "") + piece }
            if case .string(let piece) = item["raw_output"] { sample.rawOutput = (sample.rawOutput ?? "") + piece }
            samples[index] = sample
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

    private static func sampleKey(_ item: JSONObject) -> String {
        if case .number(let index) = item["index"] { return "index:" + index.text }
        if case .string(let id) = item["id"] { return "id:" + id }
        return "index:0"
    }
}
