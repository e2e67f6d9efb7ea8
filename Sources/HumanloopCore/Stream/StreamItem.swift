/// One item decoded from a completion event stream.
public enum StreamItem: Sendable {
    /// An event: the exact bytes of its data, checked by jansson to be one JSON object.
    case event(raw: [UInt8])
    /// The `[DONE]` end marker.
    case done
}
