import Foundation

/// The hand-off alone: what any Swift `async` API over an engine thread pays per call beyond the
/// C call itself, measured with no library, no network and no JSON. A call is a task awaiting a
/// continuation that it hands to a stand-in engine thread, which wakes when work arrives (as the
/// engine wakes on its eventfd) and resumes every continuation it has taken (as the engine runs
/// the callbacks of the calls that ended in one step). The Swift API does at least this, plus
/// everything (a) or (c) does, so (a + e) / a and (c + f) / c are the lowest ratios it can reach.
final class StandInEngine: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [CheckedContinuation<Void, Never>] = []
    private var thread: Thread?

    init() {
        let thread = Thread { [unowned self] in self.run() }
        thread.start()
        self.thread = thread
    }

    /// Takes a continuation; the engine thread resumes it (the caller does not wait).
    func submit(_ continuation: CheckedContinuation<Void, Never>) {
        condition.lock()
        pending.append(continuation)
        let wasEmpty = pending.count == 1
        condition.unlock()
        if wasEmpty { condition.signal() }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let taken = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            for continuation in taken { continuation.resume() }
        }
    }
}

enum HandOffFloor {
    /// (e) a `TaskGroup` of `n` tasks, each awaiting its continuation's resumption by the engine.
    static func concurrent(engine: StandInEngine, n: Int) async -> Int {
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<n {
                group.addTask {
                    await withCheckedContinuation { engine.submit($0) }
                    return true
                }
            }
            var failures = 0
            for await ok in group where !ok { failures += 1 }
            return failures
        }
    }

    /// (f) `n` such hand-offs one after the other (each wakes the engine thread, then the task).
    static func sequential(engine: StandInEngine, n: Int) async -> Int {
        for _ in 0..<n {
            await withCheckedContinuation { engine.submit($0) }
        }
        return 0
    }
}
