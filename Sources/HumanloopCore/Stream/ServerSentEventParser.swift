/// An incremental parser of `text/event-stream` bodies, per the WHATWG HTML "event stream
/// interpretation" rules.
///
/// - Lines end with CRLF, LF or CR (a CRLF split across two reads counts once).
/// - `data:` with or without one leading space; several `data` lines of one event are joined
///   with "\n"; an empty line dispatches the event (an event with no `data` is not dispatched).
/// - Comment lines (starting with `:`) and every other field (`event`, `id`, `retry`, unknown
///   names) are ignored; a UTF-8 byte order mark at the very start is skipped.
/// - Bytes may arrive in any split, down to one byte per `feed`.
/// - Unlike a browser, `finish()` also dispatches a last event that lacked its blank line.
public struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var previousWasCR = false
    private var atStart = true
    private var bomBytesSeen = 0

    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    public init() {}

    /// Bytes held for an event not yet dispatched (its data so far plus the partial line).
    public var pendingByteCount: Int { line.count + data.count }

    /// Feeds the next bytes of the body; returns the events they complete, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        var index = 0
        let count = bytes.count
        if atStart { index = skipByteOrderMark(bytes) }
        while index < count {
            let byte = bytes[index]
            if byte == 0x0A && previousWasCR {
                // The LF of a CRLF whose CR ended the previous line.
                previousWasCR = false
                index += 1
                continue
            }
            previousWasCR = false
            // Copy the run of ordinary bytes up to the next line end in one go.
            var end = index
            while end < count && bytes[end] != 0x0A && bytes[end] != 0x0D { end += 1 }
            if end > index { line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<end])) }
            guard end < count else { break }
            previousWasCR = bytes[end] == 0x0D
            if let event = processLine() { events.append(event) }
            index = end + 1
        }
        return events
    }

    /// Feeds bytes from an array (convenience for tests and callers holding arrays).
    public mutating func feed(_ bytes: [UInt8]) -> [ServerSentEvent] {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The body ended: a last line without its line end is processed, and an event that lacked
    /// its blank line is dispatched.
    public mutating func finish() -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if !line.isEmpty, let event = processLine() { events.append(event) }
        if let event = dispatch() { events.append(event) }
        bomBytesSeen = 0
        return events
    }

    /// Skips (a prefix of) the byte order mark at the start of the stream; returns where the
    /// content begins in `bytes`.
    private mutating func skipByteOrderMark(_ bytes: UnsafeRawBufferPointer) -> Int {
        var index = 0
        while index < bytes.count && bomBytesSeen < Self.byteOrderMark.count {
            guard bytes[index] == Self.byteOrderMark[bomBytesSeen] else {
                // Not a BOM after all: the bytes matched so far are content.
                line.append(contentsOf: Self.byteOrderMark[0..<bomBytesSeen])
                atStart = false
                return index
            }
            bomBytesSeen += 1
            index += 1
        }
        if bomBytesSeen == Self.byteOrderMark.count { atStart = false }
        return index
    }

    /// Interprets the complete line in `line`; returns an event when the line is blank.
    private mutating func processLine() -> ServerSentEvent? {
        atStart = false
        defer { line.removeAll(keepingCapacity: line.count <= 4096) }
        if line.isEmpty { return dispatch() }
        if line[0] == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        guard colon == 4, line[0] == UInt8(ascii: "d"), line[1] == UInt8(ascii: "a"),
              line[2] == UInt8(ascii: "t"), line[3] == UInt8(ascii: "a") else {
            return nil  // event, id, retry and unknown fields do not matter here
        }
        var valueStart = min(colon + 1, line.count)
        if valueStart < line.count && line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: line[valueStart...])
        hasData = true
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        guard hasData else { return nil }
        let event = ServerSentEvent(data: data)
        data = []
        hasData = false
        return event
    }
}
