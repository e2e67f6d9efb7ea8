import Foundation

/// The counters of one run of `CBaseline.concurrent`: calls finished and failed, and a
/// semaphore signalled when the last call has finished.
final class InFlightRun: @unchecked Sendable {
    let n: Int
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var finishedCount = 0
    private var failedCount = 0

    init(n: Int) { self.n = n }

    /// Failed calls so far.
    var failures: Int {
        lock.lock()
        defer { lock.unlock() }
        return failedCount
    }

    /// One call's terminal item has arrived.
    func finished(ok: Bool) {
        lock.lock()
        finishedCount += 1
        if !ok { failedCount += 1 }
        let last = finishedCount == n
        lock.unlock()
        if last { done.signal() }
    }
}
