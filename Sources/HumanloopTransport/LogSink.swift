#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// The C host's log callback: `(level, line, user_data)`; `line` is valid during the call.
public typealias LogCallback = @convention(c) (Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void

/// Where the library's log lines go: the host's callback (`hl_set_log_callback`), else stderr.
///
/// Process-wide and thread-safe. Lines are delivered one at a time, on the thread of the call
/// that produced them, with the sink's lock held: a callback must not set the callback again.
public final class LogSink: @unchecked Sendable {
    public static let shared = LogSink()

    private let lock = Lock()
    private var callback: LogCallback?  // guarded by lock
    private var userData: UnsafeMutableRawPointer?  // guarded by lock
    private var callbackLevel = LogLevel.off  // guarded by lock

    /// Routes lines to `callback` (nil: back to stderr); the callback also asks for every line
    /// up to `level`, whatever each client's own level. When this returns, the previous callback
    /// is not running and will not be called again.
    public func set(callback: LogCallback?, userData: UnsafeMutableRawPointer?, level: LogLevel) {
        lock.withLock {
            self.callback = callback
            self.userData = userData
            callbackLevel = callback == nil ? .off : level
        }
    }

    /// The level in effect for a client whose own level is `clientLevel`.
    func level(for clientLevel: LogLevel) -> LogLevel {
        max(clientLevel, lock.withLock { callbackLevel })
    }

    /// Delivers one line ("humanloop: <time> <level> ...").
    func emit(_ level: LogLevel, _ message: String) {
        let line = "humanloop: \(Self.timestamp()) \(level.name) \(message)"
        lock.withLock {
            if let callback {
                line.withCString { callback(level.rawValue, $0, userData) }
            } else {
                var text = line + "\n"
                text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }  // one write per line
            }
        }
    }

    /// UTC time with milliseconds, ISO 8601 ("2026-11-25T21:45:01.123Z").
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        let millis = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)Z"
    }
}
