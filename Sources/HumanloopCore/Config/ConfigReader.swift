/// Typed reads from a configuration object (the client's, or a call's options). Each problem is
/// recorded (with the key as its path) and reading goes on, so one error reports every problem.
struct ConfigReader {
    let object: JSONObject
    /// What a key is called in messages: "configuration key" or "option".
    let subject: String
    /// Put before each key in a problem's path ("options.").
    let pathPrefix: String
    /// The problems found so far, in the order they were found.
    private(set) var issues: [ValidationIssue] = []

    init(object: JSONObject, subject: String = "configuration key", pathPrefix: String = "") {
        self.object = object
        self.subject = subject
        self.pathPrefix = pathPrefix
    }

    mutating func report(_ key: String, _ message: String) {
        issues.append(ValidationIssue(path: pathPrefix + key, message: message))
    }

    mutating func rejectUnknownKeys(known: [String]) {
        for key in object.keys where !known.contains(key) {
            report(key, "unknown \(subject) \"\(key)\"")
        }
    }

    mutating func string(_ key: String) -> String? {
        guard let value = object[key] else { return nil }
        guard case .string(let text) = value else {
            report(key, "\(subject) \"\(key)\" must be a string, not \(RequestValidator.article(value.typeName))")
            return nil
        }
        return text
    }

    /// A number of seconds; with `allowNull`, `null` means no limit (`.infinity`).
    mutating func seconds(_ key: String, allowZero: Bool = false, allowNull: Bool = false) -> Double? {
        guard let value = object[key] else { return nil }
        if allowNull, case .null = value { return .infinity }
        guard case .number(let number) = value, let seconds = number.doubleValue, seconds.isFinite else {
            let what = value.numberValue == nil ? RequestValidator.article(value.typeName) : "a number out of range"
            report(key, "\(subject) \"\(key)\" must be a number of seconds\(allowNull ? " or null (no limit)" : ""), not \(what)")
            return nil
        }
        guard allowZero ? seconds >= 0 : seconds > 0, seconds <= 31_536_000 else {
            report(key, "\(subject) \"\(key)\" must be \(allowZero ? "at least 0" : "greater than 0") and at most one year, not \(number.text.prefix(40))")
            return nil
        }
        return seconds
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = object[key] else { return nil }
        guard case .number(let number) = value, number.isInteger else {
            report(key, "\(subject) \"\(key)\" must be an integer, not \(RequestValidator.article(value.typeName))")
            return nil
        }
        guard let integer = number.intValue, range.contains(integer) else {
            report(key, "\(subject) \"\(key)\" must be between \(range.lowerBound) and \(range.upperBound), not \(number.text.prefix(40))")
            return nil
        }
        return integer
    }

    /// Header values must not let a caller inject headers.
    mutating func checkHeaderValue(_ value: String, key: String) {
        if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
            report(key, "\(key) contains a CR, LF or NUL character")
        }
    }

    /// `host` normalised, or (after reporting the problem) the text as given.
    mutating func normalizedHost(_ host: String, source: String) -> String {
        do throws(CallError) {
            return try HostURL.normalized(host, source: source)
        } catch {
            if case .invalidConfig(let found) = error { issues += found }
            return host
        }
    }
}
