#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore
import HumanloopTransport

/// What an hl_loop handle points at: a loop the host runs, and the items its calls produced
/// that `hl_loop_run` has not handed out yet.
final class LoopBox {
    /// One item waiting to be handed out.
    struct Pending {
        let call: OpaquePointer
        let asyncCall: AsyncCall?
        let tag: UnsafeMutableRawPointer?
        let isTerminal: Bool
        let json: [UInt8]
    }

    let client: TransportClient
    let loop: Loop
    /// Items produced and not handed out yet (the running thread's).
    var pending: [Pending] = []
    private var pendingTaken = 0
    /// The strings handed out by the last `run` (valid until the next one).
    private var handedOut: [UnsafeMutablePointer<CChar>] = []

    init(client: TransportClient, loop: Loop) {
        self.client = client
        self.loop = loop
    }

    deinit { releaseHandedOut() }

    private func releaseHandedOut() {
        for text in handedOut { free(text) }
        handedOut.removeAll(keepingCapacity: true)
    }

    /// hl_loop_run: frees the last run's items, runs the loop (once without waiting when items
    /// are pending or the timeout is 0; otherwise until an item comes, the timeout passes or
    /// `hl_loop_wake` is called) and hands out up to `max` items; items left over keep the
    /// loop's fd readable.
    func run(timeoutMilliseconds: Int32, into items: UnsafeMutablePointer<CItem>?, max: Int) -> Int {
        releaseHandedOut()
        if pendingTaken < pending.count || timeoutMilliseconds == 0 {
            loop.run(timeoutMilliseconds: 0)
        } else {
            // Until an item: a blocking caller crosses the C boundary once per item, not once
            // for its submission and once for its answer.
            loop.run(timeoutMilliseconds: timeoutMilliseconds) { !self.pending.isEmpty }
        }
        loop.armTimerForHost()
        guard let items else { return 0 }
        var count = 0
        while count < max && pendingTaken < pending.count {
            let item = pending[pendingTaken]
            pendingTaken += 1
            // The items of a freed call are discarded.
            if let asyncCall = item.asyncCall, asyncCall.isReleasedNow { continue }
            guard let text = CStrings.copy(item.json) else { break }
            handedOut.append(text)
            items[count] = CItem(call: item.call, tag: item.tag, kind: item.isTerminal ? CItem.result : CItem.event,
                                 json: UnsafePointer(text), len: item.json.count)
            count += 1
        }
        if pendingTaken >= pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingTaken = 0
        } else {
            loop.wake()
        }
        return count
    }

    /// hl_loop_free: every call still running ends (its items are discarded), then the loop's
    /// resources go.
    func close() {
        loop.stop()
        pending.removeAll()
        pendingTaken = 0
        releaseHandedOut()
    }
}
