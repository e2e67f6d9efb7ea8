/// How many calls of a rate-aware batch may be in flight: additive increase, multiplicative
/// decrease (as TCP's congestion window). Every success grows the window by 1/size (about one
/// call per round of calls), up to the batch's concurrency; a rate-limited answer halves it, at
/// most once per round-trip time, so that a burst of simultaneous 429s (answers to calls that
/// were all sent under the old window) counts once.
public struct RateWindow: Sendable {
    /// The most calls in flight: the batch's concurrency.
    public let ceiling: Int
    /// The window now (at least 1).
    public private(set) var size: Double
    private var lastDecrease = -Double.infinity

    /// A window open to `ceiling` calls.
    public init(ceiling: Int) {
        self.ceiling = max(1, ceiling)
        size = Double(self.ceiling)
    }

    /// The calls that may be in flight now.
    public var limit: Int { max(1, min(ceiling, Int(size))) }

    /// A call succeeded: the window grows by 1/size.
    public mutating func succeeded() {
        size = min(Double(ceiling), size + 1 / size)
    }

    /// A call was rate-limited at `now` (seconds); `roundTrip` is its round-trip time. Halves
    /// the window unless it was halved less than one round-trip (at least 50 ms) ago.
    public mutating func rateLimited(now: Double, roundTrip: Double) {
        guard now - lastDecrease >= max(roundTrip.isFinite ? roundTrip : 0, 0.05) else { return }
        size = max(1, size / 2)
        lastDecrease = now
    }
}
