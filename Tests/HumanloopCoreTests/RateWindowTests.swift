import Testing
@testable import HumanloopCore

@Suite struct RateWindowTests {
    /// A window starts open to its ceiling and never goes above it.
    @Test func startsAtTheCeiling() {
        var window = RateWindow(ceiling: 8)
        #expect(window.limit == 8)
        window.succeeded()
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

    /// Successes grow the window by about one call per round of calls (additive increase).
    @Test func growsByAboutOnePerRound() {
        var window = RateWindow(ceiling: 100)
        window.rateLimited(now: 1, roundTrip: 0)
        window.rateLimited(now: 2, roundTrip: 0)
        #expect(window.limit == 25)
        for _ in 0..<26 { window.succeeded() }
        #expect(window.limit == 26)
        for _ in 0..<10_000 { window.succeeded() }
        #expect(window.limit == 100)
    }
}
