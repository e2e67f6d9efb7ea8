import HumanloopCore
import HumanloopTransport

/// What an hl_stream handle points at: a stream, or the failure to report as its one item.
final class StreamBox {
    let stream: InlineCall?
    var failure: [UInt8]?

    init(stream: InlineCall) {
        self.stream = stream
        failure = nil
    }

    init(failure: [UInt8]) {
        stream = nil
        self.failure = failure
    }

    /// The next envelope, or nil after the terminal one.
    func next() -> [UInt8]? {
        if let stream { return stream.nextEnvelope() }
        defer { failure = nil }
        return failure
    }
}
