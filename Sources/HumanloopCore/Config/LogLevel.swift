/// How much the library logs: nothing, one line per attempt, or also headers and bodies.
public enum LogLevel: Int32, Sendable, Comparable {
    case off = 0
    case info = 1
    case debug = 2

    /// "off", "info" or "debug" (the `log_level` key and `HUMANLOOP_LOG`).
    public init?(name: String) {
        switch name.lowercased() {
        case "off", "none", "": self = .off
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .off: return "off"
        case .info: return "info"
        case .debug: return "debug"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}
