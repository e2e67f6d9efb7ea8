/// The options of one call (`options_json` of hl_call_start, hl_call_run and batch items): each
/// overrides the client's setting for that call only.
public struct CallOptions: Sendable {
    /// The call's `timeout` (`.infinity`: no limit; nil: the client's).
    public var timeout: Double?
    public var connectTimeout: Double?
    public var lowSpeedTimeout: Double?
    public var maxRetries: Int?
    /// Extra request headers, in the order given.
    public var headers: [(name: String, value: String)] = []
    /// Deliver the events one by one (asynchronous calls).
    public var stream = false

    /// Header names a call cannot set (compared case-insensitively).
    static let protectedHeaders: Set<String> = ["x-api-key", "content-type", "content-length", "host"]

    static let knownKeys = ["timeout", "connect_timeout", "low_speed_timeout", "max_retries", "headers", "stream"]

    /// No options: every setting is the client's.
    public init() {}

    /// Reads options from JSON (`nil` is `{}`).
    ///
    /// - Throws: `CallError.invalidRequest` listing every problem, with paths "options.<key>".
    public init(json: [UInt8]?) throws(CallError) {
        guard let json else {
            self.init()
            return
        }
        let value: JSONValue
        do { value = try JSONReader.parse(json) } catch {
            throw .invalidRequest([ValidationIssue(path: "options", message: "the options are not valid JSON: \(error)")])
        }
        try self.init(value: value)
    }

    /// Reads options from a parsed JSON value.
    public init(value: JSONValue) throws(CallError) {
        guard case .object(let object) = value else {
            throw .invalidRequest([ValidationIssue(
                path: "options", message: "the options must be a JSON object, not \(RequestValidator.article(value.typeName))")])
        }
        var reader = ConfigReader(object: object, subject: "option", pathPrefix: "options.")
        reader.rejectUnknownKeys(known: Self.knownKeys)
        timeout = reader.seconds("timeout", allowNull: true)
        connectTimeout = reader.seconds("connect_timeout")
        lowSpeedTimeout = reader.seconds("low_speed_timeout")
        maxRetries = reader.integer("max_retries", in: 0...100)
        if let flag = object["stream"] {
            if case .bool(let on) = flag { stream = on } else {
                reader.report("stream", "option \"stream\" must be a boolean, not \(RequestValidator.article(flag.typeName))")
            }
        }
        if let given = object["headers"] {
            if case .object(let members) = given {
                for (name, value) in members {
                    guard case .string(let text) = value else {
                        reader.report("headers.\(name)", "header \"\(name.prefix(60))\" must be a string, not \(RequestValidator.article(value.typeName))")
                        continue
                    }
                    if let problem = Self.problem(name: name, value: text) {
                        reader.report("headers.\(name)", problem)
                    } else {
                        headers.append((name, text))
                    }
                }
            } else {
                reader.report("headers", "option \"headers\" must be an object of strings, not \(RequestValidator.article(given.typeName))")
            }
        }
        if !reader.issues.isEmpty { throw .invalidRequest(reader.issues) }
    }

    /// Why a header cannot be sent, or nil when it can.
    static func problem(name: String, value: String) -> String? {
        if name.isEmpty { return "a header name must not be empty" }
        if !name.utf8.allSatisfy(Self.isTokenByte) {
            return "header name \"\(name.prefix(60))\" is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)"
        }
        if protectedHeaders.contains(name.lowercased()) {
            return "header \"\(name)\" is set by the library and cannot be replaced"
        }
        if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
            return "the value of header \"\(name)\" contains a CR, LF or NUL character"
        }
        return nil
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
