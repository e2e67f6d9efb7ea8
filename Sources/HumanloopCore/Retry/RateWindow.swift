/// How fast a rate-aware batch may go: how many calls may be in flight (a window, additive
/// increase and multiplicative decrease, as TCP's congestion window) and, once the server has
/// rate-limited it, how many calls may start per second (a pace).
///
/// - Every success grows the window by 1/size (about one call per round of calls), up to the
///   batch's concurrency, and the pace by 1/pace (about one call per second each second).
/// - A rate-limited answer halves the window, at most once per round-trip time, so that a burst
///   of simultaneous 429s (answers to calls all sent under the old window) counts once.
/// - A window alone does not bound a rate: against a fast server, a handful of calls in flight
///   make hundreds of requests a second. So the first rate-limited answer also sets a pace: nine
///   tenths of the successes of the last second (what the server let through, with a margin
///   for timing), lowered by a tenth at most once a second on later ones. Calls then start no
///   faster than the pace (`nextStart`).
public struct RateWindow: Sendable {
    /// The most calls in flight: the batch's concurrency.
    public let ceiling: Int
    /// The window now (at least 1).
    public private(set) var size: Double
    /// Calls per second once rate-limited (nil: no pace yet).
    public private(set) var pace: Double?
    private var lastDecrease = -Double.infinity
    private var lastPaceCut = -Double.infinity
    /// When the next call may start under the pace.
    private var nextStartTime = -Double.infinity
    /// The times of the successes of about the last second (oldest first, from `recentStart`).
    private var recent: [Double] = []
    private var recentStart = 0

    /// A window open to `ceiling` calls, with no pace.
    public init(ceiling: Int) {
        self.ceiling = max(1, ceiling)
        size = Double(self.ceiling)
    }

    /// The calls that may be in flight now.
    public var limit: Int { max(1, min(ceiling, Int(size))) }

    /// A call succeeded at `now` (seconds): the window and the pace grow.
    public mutating func succeeded(now: Double) {
        size = min(Double(ceiling), size + 1 / size)
        if let pace { self.pace = pace + 1 / pace }
        forget(before: now - 1)
        recent.append(now)
    }

    /// A call was rate-limited at `now` (seconds); `roundTrip` is its round-trip time. Halves
    /// the window unless it was halved less than one round-trip (at least 50 ms) ago; sets or
    /// lowers the pace.
    public mutating func rateLimited(now: Double, roundTrip: Double) {
        if now - lastDecrease >= max(roundTrip.isFinite ? roundTrip : 0, 0.05) {
            size = max(1, size / 2)
            lastDecrease = now
        }
        guard now - lastPaceCut >= 1 else { return }
        if let pace {
            self.pace = max(1, pace * 0.9)
        } else {
            forget(before: now - 1)
            pace = max(1, Double(recent.count - recentStart) * 0.9)
        }
        lastPaceCut = now
    }

    /// When a call about to start at `now` may start (`now` without a pace), and the schedule
    /// moves on by one call.
    public mutating func nextStart(now: Double) -> Double {
        guard let pace else { return now }
        let start = max(now, nextStartTime)
        nextStartTime = start + 1 / pace
        return start
    }

    private mutating func forget(before time: Double) {
        while recentStart < recent.count && recent[recentStart] < time { recentStart += 1 }
        if recentStart > 1024 && recentStart * 2 > recent.count {
            recent.removeFirst(recentStart)
            recentStart = 0
        }
    }
}
