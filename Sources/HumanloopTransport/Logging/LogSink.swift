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
/// Process-wide and thread-safe. A line is delivered on the thread of the call that produced
/// it, with no lock of the library held (a callback that takes a lock of its host, or needs an
/// interpreter lock, cannot deadlock against a `fork()` or another call), so callbacks may run
/// on several threads at once. `set` waits for the lines in progress.
public final class LogSink: @unchecked Sendable {
    public static let shared = LogSink()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let finished: UnsafeMutablePointer<pthread_cond_t>
    private var callback: LogCallback?  // guarded by mutex
    private var userData: UnsafeMutableRawPointer?  // guarded by mutex
    private var callbackLevel = LogLevel.off  // guarded by mutex
    /// Callbacks running now in `process` (threads of a parent do not exist after a fork).
    private var running = 0  // guarded by mutex
    private var process = Process.current  // guarded by mutex

    private init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        finished = .allocate(capacity: 1)
        finished.initialize(to: pthread_cond_t())
        pthread_cond_init(finished, nil)
        ForkGuard.shared.register(lock: mutex)
    }

    private func locked<Result>(_ body: () -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if process != Process.current {
            running = 0
            process = Process.current
        }
        return body()
    }

    /// Routes lines to `callback` (nil: back to stderr); the callback also asks for every line
    /// up to `level`, whatever each client's own level. Returns once no line is being delivered,
    /// so the previous callback is not running and will not be called again. Must not be called
    /// from a log callback.
    public func set(callback: LogCallback?, userData: UnsafeMutableRawPointer?, level: LogLevel) {
        locked {
            self.callback = callback
            self.userData = userData
            callbackLevel = callback == nil ? .off : level
            while running > 0 { pthread_cond_wait(finished, mutex) }
        }
    }

    /// The level in effect for a client whose own level is `clientLevel`.
    func level(for clientLevel: LogLevel) -> LogLevel {
        max(clientLevel, locked { callbackLevel })
    }

    /// Delivers one line ("humanloop: <time> <level> ...").
    func emit(_ level: LogLevel, _ message: String) {
        let line = "humanloop: \(Self.timestamp()) \(level.name) \(message)"
        let target = locked { () -> (LogCallback, UnsafeMutableRawPointer?)? in
            guard let callback else { return nil }
            running += 1
            return (callback, userData)
        }
        guard let (callback, userData) = target else {
            var text = line + "\n"
            text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }  // one write per line
            return
        }
        ForkGate.shared.outside { line.withCString { callback(level.rawValue, $0, userData) } }
        locked {
            running -= 1
            if running == 0 { pthread_cond_broadcast(finished) }
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
