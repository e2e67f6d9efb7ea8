import Testing
@testable import HumanloopCore

@Suite struct RateWindowTests {
    /// A window starts open to its ceiling and never goes above it.
    @Test func startsAtTheCeiling() {
        var window = RateWindow(ceiling: 8)
        #expect(window.limit == 8)
        window.succeeded(now: 0)
        #expect(window.limit == 8)
    }

    /// Simultaneous 429s (within one round-trip) halve the window once; a later one halves it
    /// again; it never falls below one call.
    @Test func halvesOncePerRoundTrip() {
        var window = RateWindow(ceiling: 200)
        for _ in 0..<200 { window.rateLimited(now: 10.0, roundTrip: 0.2) }
        #expect(window.limit == 100)
        window.rateLimited(now: 10.1, roundTrip: 0.2)
        #expect(window.limit == 100)
        window.rateLimited(now: 10.3, roundTrip: 0.2)
        #expect(window.limit == 50)
        for step in 0..<20 { window.rateLimited(now: 11.0 + Double(step), roundTrip: 0.2) }
        #expect(window.limit == 1)
    }

    /// The first 429 sets a pace: the successes of the last second; calls then start no faster.
    /// Later 429s lower it by a tenth at most once a second; successes raise it slowly.
    @Test func pacesAfterARateLimit() {
        var window = RateWindow(ceiling: 200)
        #expect(window.nextStart(now: 5) == 5)
        for step in 0..<100 { window.succeeded(now: 9.0 + Double(step) / 100) }
        window.rateLimited(now: 10.0, roundTrip: 0.001)
        #expect(window.pace.map { $0 > 89.9 && $0 <= 90 } == true)
        let first = window.nextStart(now: 11)
        let second = window.nextStart(now: 11)
        #expect(first == 11)
        #expect(abs(second - (11 + 1 / 90.0)) < 0.0002)
        window.rateLimited(now: 10.5, roundTrip: 0.001)
        #expect(window.pace.map { $0 > 89.9 } == true)
        window.rateLimited(now: 11.2, roundTrip: 0.001)
        #expect(window.pace.map { $0 > 80.9 && $0 <= 81.1 } == true)
    }

    /// Successes grow the window by about one call per round of calls (additive increase).
    @Test func growsByAboutOnePerRound() {
        var window = RateWindow(ceiling: 100)
        window.rateLimited(now: 1, roundTrip: 0)
        window.rateLimited(now: 2, roundTrip: 0)
        #expect(window.limit == 25)
        for _ in 0..<26 { window.succeeded(now: 0) }
        #expect(window.limit == 26)
        for _ in 0..<10_000 { window.succeeded(now: 0) }
        #expect(window.limit == 100)
    }
}
