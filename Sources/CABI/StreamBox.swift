import HumanloopCore
import HumanloopTransport

/// What an hl_stream handle points at: a stream, or the failure to report as its one item.
final class StreamBox {
    let stream: InlineCall?
    var failure: CallError?

    init(stream: InlineCall) {
        self.stream = stream
        failure = nil
    }

    init(failure: CallError) {
        stream = nil
        self.failure = failure
    }

    /// The next envelope, or nil after the terminal one.
    func next() -> [UInt8]? {
        if let stream { return stream.next().map(EnvelopeEncoder.encode) }
        defer { failure = nil }
        return failure.map { EnvelopeEncoder.failure($0) }
    }
}
