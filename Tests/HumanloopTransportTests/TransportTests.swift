import CCurl
import Testing
@testable import HumanloopCore
@testable import HumanloopTransport

private func settings() throws -> TransportSettings {
    let json = Array(#"{"api_key":"k","host":"http://127.0.0.1:9/v4","max_retries":0}"#.utf8)
    return TransportSettings(try ClientConfiguration(json: json, version: "test", environment: { _ in nil }))
}

@Suite struct LoopPoolTests {
    /// A burst of calls leaves its loops (and their connections) for the calls after it.
    @Test func keepsEveryLoopOfABurst() {
        let pool = LoopPool(limit: Int.max, budget: ConnectionBudget(limit: 1000))
        let burst = (0..<50).compactMap { _ in try? pool.checkOut().get() }
        #expect(burst.count == 50)
        for loop in burst { pool.checkIn(loop) }
        let again = (0..<50).compactMap { _ in try? pool.checkOut().get() }
        #expect(Set(again.map(ObjectIdentifier.init)) == Set(burst.map(ObjectIdentifier.init)))
        for loop in again { pool.checkIn(loop) }
    }

    /// At most `limit` loops are out: the next checkout waits for one to come back, and gives up
    /// at its deadline or when its call is cancelled.
    @Test func limitsTheLoopsOut() throws {
        let pool = LoopPool(limit: 2, budget: ConnectionBudget(limit: 1000))
        let first = try pool.checkOut().get()
        let second = try pool.checkOut().get()
        guard case .failure(.timedOut) = pool.checkOut(deadline: Clock.monotonic() + 0.1) else {
            Issue.record("a third loop was handed out")
            return
        }
        guard case .failure(.cancelled) = pool.checkOut(isCancelled: { true }) else {
            Issue.record("a cancelled wait was not ended")
            return
        }
        pool.checkIn(first)
        let third = try pool.checkOut(deadline: Clock.monotonic() + 0.1).get()
        #expect(third === first)
        pool.checkIn(second)
        pool.checkIn(third)
    }

    /// A waiting checkout asks whether its call was cancelled without holding the pool's lock
    /// (the cancellation has a lock of its own: locks never nest, see `LockNesting`).
    @Test func waitingTakesNoLockInsideAnother() throws {
        let pool = LoopPool(limit: 1, budget: ConnectionBudget(limit: 1000))
        let taken = try pool.checkOut().get()
        let cancellation = Cancellation()
        let before = LockNesting.nestedAcquisitions
        _ = pool.checkOut(deadline: Clock.monotonic() + 0.12, isCancelled: { cancellation.isCancelled })
        #expect(LockNesting.nestedAcquisitions == before)
        pool.checkIn(taken)
    }
}

@Suite struct ConnectionBudgetTests {
    /// At most `limit` slots are taken at once; a slot given back can be taken again.
    @Test func limitsTheSlotsTaken() {
        let budget = ConnectionBudget(limit: 2)
        #expect(budget.tryAcquire())
        #expect(budget.tryAcquire())
        #expect(!budget.tryAcquire())
        budget.release()
        #expect(budget.tryAcquire())
        #expect(!budget.tryAcquire())
    }

    /// A limit below 1 (never configured: max_connections >= 1) still lets one call through.
    @Test func keepsOneSlotAtLeast() {
        let budget = ConnectionBudget(limit: 0)
        #expect(budget.tryAcquire())
        #expect(!budget.tryAcquire())
    }
}

@Suite struct TransferTests {
    /// A failure of libcurl's multi interface is reported with libcurl's words, not as
    /// "Out of memory".
    @Test func multiInterfaceFailuresSayWhatLibcurlSaid() throws {
        let multi = try #require(curl_multi_init())
        defer { curl_multi_cleanup(multi) }
        let handle = try #require(CurlHandle())
        // Put the easy handle into the multi handle already: the transfer's own add then fails
        // with CURLM_ADDED_ALREADY.
        #expect(curl_multi_add_handle(multi, handle.easy) == CURLM_OK)
        let transfer = Transfer(handle: handle, multi: multi, settings: try settings(), url: "http://127.0.0.1:9/v4/completion",
                                body: [], mode: .buffer)
        #expect(transfer.isComplete)
        guard case .failure(let error, let retryable) = transfer.outcome() else {
            Issue.record("the transfer did not fail")
            return
        }
        #expect(!retryable)
        #expect(error.typeName == "connection_error")
        #expect(error.message == "libcurl's multi interface failed: The easy handle is already added to a multi handle")
        _ = transfer.releaseHandle()
        curl_multi_remove_handle(multi, handle.easy)
    }
}

@Suite struct ProxyMessageTests {
    /// A proxy's credentials never reach a message.
    @Test func proxyCredentialsAreHidden() {
        #expect(Transfer.withoutCredentials("http://user:secret@proxy.example:3128") == "http://***@proxy.example:3128")
        #expect(Transfer.withoutCredentials("http://proxy.example:3128/p@th") == "http://proxy.example:3128/p@th")
        #expect(Transfer.withoutCredentials("user:pw@proxy:1") == "***@proxy:1")
        #expect(Transfer.withoutCredentials("socks5h://a@b@proxy") == "socks5h://***@proxy")
    }
}
