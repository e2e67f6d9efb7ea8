/// Reads an HTTP/1.x response head line by line, as libcurl's header callback hands it over.
///
/// Interim (1xx) answers and the heads of earlier answers (a proxy's CONNECT answer, a
/// redirect) are replaced by the next status line. Nothing the server sends can make it trap:
/// the status must be exactly three digits, and the whole head is bounded by `maximumBytes`.
/// Header names are lower-cased; repeated headers are joined with ", " (appended in place, so a
/// head of n bytes costs O(n)).
public struct ResponseHeadParser: Sendable {
    /// The largest head accepted (status line plus every header line), in bytes.
    public static let maximumBytes = 1024 * 1024

    /// The status of the current answer (0 before a status line).
    public private(set) var status = 0
    /// Its reason phrase as sent (may be empty).
    public private(set) var reason = ""
    /// True once the blank line ending a final (non-1xx) head has arrived.
    public private(set) var isComplete = false
    private var fields: [(name: String, value: String)] = []
    /// Position of each name in `fields`, kept once there are more than 16 (else searched).
    private var fieldPositions: [String: Int]?
    private var byteCount = 0

    public init() {}

    /// The headers of the current answer (built once when its head is complete).
    public var headers: JSONObject {
        completeHeaders ?? JSONObject(fields.map { ($0.name, JSONValue.string($0.value)) })
    }
    private var completeHeaders: JSONObject?

    /// Takes one line (with or without its CRLF).
    /// - Throws: `invalidResponse` for a malformed status line or a head over `maximumBytes`.
    public mutating func receive(line: UnsafeRawBufferPointer) throws(CallError) {
        var end = line.count
        while end > 0 && (line[end - 1] == 0x0A || line[end - 1] == 0x0D) { end -= 1 }
        let content = UnsafeRawBufferPointer(rebasing: line[0..<end])
        byteCount += line.count
        if byteCount > Self.maximumBytes {
            throw .invalidResponse("the response head exceeds \(Self.maximumBytes) bytes", status: status, body: "")
        }
        if content.starts(with: "HTTP/".utf8) {
            try startAnswer(statusLine: content)
        } else if content.isEmpty {
            if status >= 200 {
                isComplete = true
                completeHeaders = JSONObject(fields.map { ($0.name, JSONValue.string($0.value)) })
            }
        } else if let colon = content.firstIndex(of: UInt8(ascii: ":")), colon > 0,
                  content[0..<colon].allSatisfy(Self.isTokenByte) {
            // A line whose name is not an HTTP token (RFC 9110) is not a header: dropped.
            // Worked on bytes: ASCII lower-casing of the name, spaces and tabs trimmed off the value.
            let name = String(unsafeUninitializedCapacity: colon) { buffer in
                for index in 0..<colon {
                    let byte = content[index]
                    buffer[index] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                }
                return colon
            }
            let value = Self.trimmedText(UnsafeRawBufferPointer(rebasing: content[(colon + 1)...]))
            if let position = position(of: name) {
                fields[position].value.append(", ")
                fields[position].value.append(value)
            } else {
                fields.append((name: name, value: value))
                if fieldPositions != nil {
                    fieldPositions?[name] = fields.count - 1
                } else if fields.count > 16 {
                    // Many headers: index them, so a head of n lines stays O(n).
                    fieldPositions = Dictionary(fields.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
                }
            }
        }
    }

    /// "HTTP/1.1 200 OK": a new answer begins; what came before is dropped.
    private mutating func startAnswer(statusLine: UnsafeRawBufferPointer) throws(CallError) {
        // "HTTP/x" SP+ three digits [SP+ reason]
        var index = 0
        while index < statusLine.count && statusLine[index] != UInt8(ascii: " ") { index += 1 }
        while index < statusLine.count && statusLine[index] == UInt8(ascii: " ") { index += 1 }
        let codeStart = index
        while index < statusLine.count && statusLine[index] != UInt8(ascii: " ") { index += 1 }
        guard let code = Self.statusCode(UnsafeRawBufferPointer(rebasing: statusLine[codeStart..<index])) else {
            let text = String(decoding: statusLine.prefix(100), as: UTF8.self)
            throw .invalidResponse("the server's status line is malformed: \"\(text)\"", status: 0, body: "")
        }
        status = code
        reason = Self.trimmedText(UnsafeRawBufferPointer(rebasing: statusLine[index...]))
        fields = []
        fieldPositions = nil
        isComplete = false
        completeHeaders = nil
    }

    private func position(of name: String) -> Int? {
        if let fieldPositions { return fieldPositions[name] }
        return fields.firstIndex { $0.name == name }
    }

    /// A byte of an HTTP token (a header name).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// A status code: exactly three ASCII digits, 100 to 999.
    static func statusCode(_ digits: UnsafeRawBufferPointer) -> Int? {
        guard digits.count == 3, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              digits[0] != UInt8(ascii: "0") else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    /// `bytes` as text (invalid UTF-8 replaced), without leading and trailing spaces and tabs.
    private static func trimmedText(_ bytes: UnsafeRawBufferPointer) -> String {
        var start = 0
        var end = bytes.count
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }
}
